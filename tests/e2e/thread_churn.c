/* Thread churn: many short-lived threads (half joined, half detached), each
 * allocating and freeing, every 100th leaking 7 bytes. Then exit() while two
 * threads still allocate in a loop. The report must be exact for this
 * program's sites, with no unmatched frees (thread slots and rings reused,
 * glibc's reuse of thread stacks understood). */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "expect.h"

static void* volatile g_leaks[1000];

__attribute__((noinline)) static void* churn_worker(void* arg) {
  long i = (long)arg;
  void* volatile p; /* volatile: keep the compiler from eliding the pair */
  for (int k = 0; k < 10; ++k) {
    p = malloc((size_t)(16 + k * 8));
    free(p);
  }
  if (i % 100 == 0) g_leaks[i / 100] = malloc(7);
  return NULL;
}

__attribute__((noinline)) static void* busy_worker(void* arg) {
  (void)arg;
  void* volatile p;
  for (;;) {
    p = malloc(64);
    free(p);
  }
  return NULL;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000;
  for (long i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, churn_worker, (void*)i) != 0) return 3;
    if (i % 2) pthread_join(t, NULL);
    else pthread_detach(t);
  }
  usleep(200000); /* let the detached ones finish */
  expect_line("{\"kind\": \"churn\", \"threads\": %ld, \"leaked_bytes\": %ld, \"leaked_blocks\": %ld}", n,
              7 * ((n + 99) / 100), (n + 99) / 100);
  pthread_t busy[2];
  for (int i = 0; i < 2; ++i) pthread_create(&busy[i], NULL, busy_worker, NULL);
  usleep(50000);
  exit(0); /* with two threads still allocating */
}
