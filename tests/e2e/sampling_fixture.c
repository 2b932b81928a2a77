/* Sampling mode: 16 MiB leaked in 4 KiB blocks from two threads, one with
 * malloc and one with calloc (the estimate must be close), and churn through
 * malloc, calloc and realloc that is all freed (must be exactly zero: frees
 * of sampled blocks are exact). */
#include <pthread.h>
#include <stdlib.h>

#include "expect.h"

#define BLOCK 4096
#define BLOCKS_PER_THREAD 2048

static void* volatile g_keep[2][BLOCKS_PER_THREAD];

__attribute__((noinline)) static void leak_sampled(int t) {
  for (int i = 0; i < BLOCKS_PER_THREAD; ++i) g_keep[t][i] = t == 0 ? malloc(BLOCK) : calloc(BLOCK / 8, 8);
}

__attribute__((noinline)) static void churn_all_freed(void) {
  void* volatile p;
  for (int i = 0; i < 200000; ++i) {
    p = malloc((size_t)(16 + i % 2000));
    free(p);
  }
  for (int i = 0; i < 50000; ++i) {
    p = calloc((size_t)(1 + i % 300), 8);
    free(p);
  }
  void* r = malloc(100);
  for (int i = 1; i < 5000; ++i) r = realloc(r, (size_t)(100 + (i * 37) % 20000));
  free(r);
}

static void* worker(void* arg) {
  int t = (int)(long)arg;
  leak_sampled(t);
  churn_all_freed();
  return NULL;
}

int main(void) {
  pthread_t th[2];
  for (long i = 0; i < 2; ++i) pthread_create(&th[i], NULL, worker, (void*)i);
  for (int i = 0; i < 2; ++i) pthread_join(th[i], NULL);
  expect_line("{\"kind\": \"sampling\", \"leaked_bytes\": %d}", 2 * BLOCKS_PER_THREAD * BLOCK);
  return 0;
}
