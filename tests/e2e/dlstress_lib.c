/* One library of the dlopen/dlclose stress test (dlstress.c, test_dlstress.py),
 * built five times: dlstress_a, _b, _c (opened and closed every round),
 * dlstress_keep (opened once and never closed) and dlstress_bg (opened and
 * closed in a loop by a background thread). DLSTRESS_NAME, DLSTRESS_THREADS,
 * DLSTRESS_LEAK and DLSTRESS_LEAK_FN are set per build.
 *
 * Its constructor -- run inside dlopen, with the loader's lock held -- starts
 * DLSTRESS_THREADS threads that churn memory (malloc/free, calloc, realloc,
 * mmap/munmap with partial unmaps) for `dlstress_ops` operations each, freeing
 * everything they made; thread 0 then leaks one block of a known size, once
 * per load. Its destructor (inside dlclose, or at exit) joins them, only in
 * the process that started them: a forked child that exits has none.
 *
 * Ground truth: each load of a closed library leaks DLSTRESS_LEAK bytes in
 * DLSTRESS_LEAK_FN (dlstress_leak_block, or dlstress_leak_block_bg for the
 * background one: the executable's functions, so that the site has a
 * symbolizable frame 0 after the library is gone); dlstress_keep leaks its
 * bytes in its own function, dlstress_leak_keep. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DLS_CAT2(a, b) a##b
#define DLS_CAT(a, b) DLS_CAT2(a, b)
#define DLS_FN(stem) DLS_CAT(stem, DLSTRESS_NAME)

/* The executable's (exported with -rdynamic): operations per thread, and the
 * block closed libraries leak through. */
extern int dlstress_ops;
#ifndef DLSTRESS_KEEP
extern void* DLSTRESS_LEAK_FN(size_t bytes);
#endif

static pthread_t g_threads[DLSTRESS_THREADS];
static int g_started;
static pid_t g_owner;
static void* volatile g_sink;

__attribute__((visibility("default"), noinline)) void* DLS_FN(dlstress_leak_)(void) {
#ifdef DLSTRESS_KEEP
  void* p = malloc(DLSTRESS_LEAK);  /* the resident library's own leak */
#else
  void* p = DLSTRESS_LEAK_FN(DLSTRESS_LEAK);
#endif
  if (p != NULL) memset(p, 0x5a, DLSTRESS_LEAK);
  return p;
}

static unsigned next_rand(unsigned* s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

__attribute__((noinline)) static void* DLS_FN(dlstress_churn_)(void* arg) {
  uintptr_t index = (uintptr_t)arg;
  unsigned seed = (unsigned)(index * 2654435761u) ^ (unsigned)getpid();
  void* keep[16] = {0};
  for (int i = 0; i < dlstress_ops; ++i) {
    unsigned r = next_rand(&seed);
    unsigned k = r & 15;
    switch (i & 3) {
      case 0:
        free(keep[k]);
        keep[k] = malloc(16 + (r >> 4) % 2000);
        break;
      case 1: {
        void* q = realloc(keep[k], 32 + (r >> 4) % 6000);
        if (q != NULL) keep[k] = q;
        break;
      }
      case 2: {
        size_t pages = 1 + (r >> 4) % 16;
        char* m = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) break;
        m[0] = 1;
        if (pages > 2) {  /* unmapped in parts: head, tail, then the middle */
          munmap(m, 4096);
          munmap(m + (pages - 1) * 4096, 4096);
          munmap(m + 4096, (pages - 2) * 4096);
        } else {
          munmap(m, pages * 4096);
        }
        break;
      }
      default: {
        char* c = calloc(1 + (r >> 4) % 64, 24);
        g_sink = c;
        free(c);
        break;
      }
    }
  }
  for (int k = 0; k < 16; ++k) free(keep[k]);
  if (index == 0) g_sink = DLS_FN(dlstress_leak_)();
  return NULL;
}

/* Work on the caller's thread, reached through dlsym: with RTLD_LAZY the
 * first call of each function here binds it then. */
__attribute__((visibility("default"))) int DLS_FN(dlstress_work_)(int n) {
  int total = 0;
  for (int i = 0; i < n; ++i) {
    char* s = strdup("dlstress work string");
    void* q = realloc(malloc(100 + i), 300 + i);
    total += s != NULL && q != NULL;
    free(q);
    free(s);
  }
  return total;
}

/* Joins the constructor's threads (main calls it for dlstress_keep, which is
 * never closed, so that its leak is made before the final report). */
__attribute__((visibility("default"))) void DLS_FN(dlstress_join_)(void) {
  if (!g_started || getpid() != g_owner) return;
  for (int i = 0; i < DLSTRESS_THREADS; ++i) pthread_join(g_threads[i], NULL);
  g_started = 0;
}

__attribute__((constructor)) static void dlstress_init(void) {
  g_owner = getpid();
  for (uintptr_t i = 0; i < DLSTRESS_THREADS; ++i) {
    if (pthread_create(&g_threads[i], NULL, DLS_FN(dlstress_churn_), (void*)i) != 0) abort();
  }
  g_started = 1;
}

__attribute__((destructor)) static void dlstress_fini(void) { DLS_FN(dlstress_join_)(); }
