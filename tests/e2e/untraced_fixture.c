/* More threads alive at once than the tracer has slots (8192): the ones
 * left over stay untraced, and tracer.untraced_threads counts each of them
 * once, however many calls it makes (test_threads.py). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "expect.h"

#define THREADS (8192 + 20)
#define CALLS_PER_THREAD 10

static pthread_barrier_t g_all_alive;

static void* worker(void* arg) {
  (void)arg;
  for (int i = 0; i < CALLS_PER_THREAD / 2; ++i) free(malloc(64));
  pthread_barrier_wait(&g_all_alive);  /* every thread is alive here at once */
  return NULL;
}

int main(void) {
  static pthread_t threads[THREADS];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_barrier_init(&g_all_alive, NULL, THREADS + 1);
  for (int i = 0; i < THREADS; ++i) {
    if (pthread_create(&threads[i], &attr, worker, NULL) != 0) {
      fprintf(stderr, "pthread_create failed at %d\n", i);
      return 2;
    }
  }
  pthread_barrier_wait(&g_all_alive);
  for (int i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
  expect_line("{\"kind\": \"untraced\", \"threads\": %d, \"calls_per_thread\": %d, \"slots\": 8192}", THREADS,
              CALLS_PER_THREAD);
  return 0;
}
