/* A burst of threads: 64 at once, each wrapping its event ring (20000
 * malloc/free pairs) and leaking one 64-byte block, all joined. Then the
 * process asks for a report (which retires their slots) and states its RSS
 * before the burst and after the report: the tracer must give back what the
 * exited threads used (rings, stack memos, staging queues) beyond the few
 * slots it keeps warm for the next threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "include/memtrace/memtrace.h"

#define THREADS 64
#define PAIRS 20000

static pthread_barrier_t g_start;
static void* volatile g_keep[THREADS];

static long rss_kb(void) {
  char line[256];
  long kb = -1;
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  }
  fclose(f);
  return kb;
}

__attribute__((noinline)) static void* burst_worker(void* arg) {
  long i = (long)arg;
  pthread_barrier_wait(&g_start);
  for (int k = 0; k < PAIRS; ++k) {
    void* volatile p = malloc((size_t)(16 + k % 200));
    free(p);
  }
  g_keep[i] = malloc(64);
  return NULL;
}

int main(int argc, char** argv) {
  long before = rss_kb();
  pthread_t t[THREADS];
  pthread_barrier_init(&g_start, NULL, THREADS);
  for (long i = 0; i < THREADS; ++i) {
    if (pthread_create(&t[i], NULL, burst_worker, (void*)i) != 0) return 3;
  }
  for (int i = 0; i < THREADS; ++i) pthread_join(t[i], NULL);
  if (argc > 1 && memtrace_dump != NULL && memtrace_dump(argv[1]) != 0) return 4;
  long after = rss_kb();
  expect_line("{\"kind\": \"burst\", \"threads\": %d, \"rss_before_kb\": %ld, \"rss_after_kb\": %ld}", THREADS,
              before, after);
  EXPECT_SITE("burst_worker", 40, THREADS * 64, THREADS);
  return 0;
}
