/* A library whose constructor does its work before libmemtrace's own
 * constructor runs (the dynamic loader initialises the program's libraries
 * first): it starts a thread that allocates 12,345 bytes and maps 8 MiB, of
 * which it touches 1 MiB, then stays alive. Everything must be traced,
 * exactly, and the thread attributed to this constructor (test_startup.py).
 * ctor_lib_cxx.cc adds a C++ static initializer's leak to the same library. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "expect.h"

#define CTOR_HEAP_BYTES 12345
#define CTOR_MAP_BYTES (8u << 20)
#define CTOR_TOUCHED_BYTES (1u << 20)

static pthread_t g_thread;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ready;
static void* g_block;
static void* g_map;
static int g_heap_line, g_map_line;

__attribute__((noinline)) static void* ctor_thread_main(void* arg) {
  (void)arg;
  g_block = malloc(CTOR_HEAP_BYTES); g_heap_line = __LINE__;
  memset(g_block, 1, CTOR_HEAP_BYTES);
  g_map = mmap(NULL, CTOR_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); g_map_line = __LINE__;
  if (g_map != MAP_FAILED) memset(g_map, 1, CTOR_TOUCHED_BYTES);
  pthread_mutex_lock(&g_mu);
  g_ready = 1;
  pthread_cond_broadcast(&g_cv);
  /* Stays alive, holding its memory, until the process exits. */
  for (;;) pthread_cond_wait(&g_cv, &g_mu);
  return NULL;
}

__attribute__((constructor)) static void ctor_lib_init(void) {
  pthread_create(&g_thread, NULL, ctor_thread_main, NULL);
  pthread_mutex_lock(&g_mu);
  while (!g_ready) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

/* The ground truth, printed by the program's main. */
void ctor_lib_expect(void) {
  expect_line("{\"kind\": \"ctor_heap\", \"function\": \"ctor_thread_main\", \"line\": %d, \"bytes\": %d}", g_heap_line,
              CTOR_HEAP_BYTES);
  expect_line("{\"kind\": \"ctor_map\", \"function\": \"ctor_thread_main\", \"line\": %d, \"bytes\": %u, "
              "\"touched\": %u}",
              g_map_line, CTOR_MAP_BYTES, CTOR_TOUCHED_BYTES);
}
