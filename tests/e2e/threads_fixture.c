/* Thread lifetimes with known ground truth: K threads from two creator
 * sites, each leaking a known number of bytes and exiting; some joined, some
 * detached, some neither (their stacks are never reclaimed). One named thread
 * stays alive; an orphan outlives the thread that created it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "expect.h"

static void* volatile g_keep[256];
static int g_nkeep;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_park = PTHREAD_MUTEX_INITIALIZER;  /* held by main: parked threads wait on it */
static volatile int g_orphan_tid;

struct Job {
  size_t bytes;
  int blocks;
};

__attribute__((noinline)) static void* leak_and_exit(void* arg) {
  struct Job* j = arg;
  for (int i = 0; i < j->blocks; ++i) {
    void* p = malloc(j->bytes);
    pthread_mutex_lock(&g_mu);
    g_keep[g_nkeep++] = p;
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

__attribute__((noinline)) static void* parked(void* arg) {
  (void)arg;
  prctl(PR_SET_NAME, "parked-worker");
  g_keep[200] = malloc(777);
  pthread_mutex_lock(&g_park);  /* waits until main exits */
  pthread_mutex_unlock(&g_park);
  return NULL;
}

__attribute__((noinline)) static void* orphan(void* arg) {
  (void)arg;
  g_keep[201] = malloc(333);
  g_orphan_tid = gettid();
  pthread_mutex_lock(&g_park);
  pthread_mutex_unlock(&g_park);
  return NULL;
}

__attribute__((noinline)) static void* orphan_maker(void* arg) {
  (void)arg;
  pthread_t t;
  pthread_create(&t, NULL, orphan, NULL);
  pthread_detach(t);
  while (g_orphan_tid == 0) usleep(1000);
  return NULL; /* exits; its child lives on */
}

__attribute__((noinline)) static void spawn_group_a(struct Job* jobs, int n, pthread_t* out) {
  for (int i = 0; i < n; ++i) pthread_create(&out[i], NULL, leak_and_exit, &jobs[i]);
}

__attribute__((noinline)) static void spawn_group_b(struct Job* jobs, int n, pthread_t* out) {
  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&detached, 1 << 20);
  for (int i = 0; i < n; ++i) pthread_create(&out[i], i % 2 == 0 ? &detached : NULL, leak_and_exit, &jobs[i]);
  pthread_attr_destroy(&detached);
}

int main(void) {
  pthread_mutex_lock(&g_park);
  /* Group A: 6 threads, 1000*(i+1) bytes in 2 blocks each: 2 joined, 2 detached after start, 2 neither. */
  struct Job a[6], b[4];
  pthread_t ta[6], tb[4];
  long a_bytes = 0, b_bytes = 0;
  for (int i = 0; i < 6; ++i) {
    a[i].bytes = (size_t)(1000 * (i + 1));
    a[i].blocks = 2;
    a_bytes += 2 * 1000 * (i + 1);
  }
  for (int i = 0; i < 4; ++i) {
    b[i].bytes = (size_t)(512 + i);
    b[i].blocks = 1;
    b_bytes += 512 + i;
  }
  spawn_group_a(a, 6, ta);
  pthread_join(ta[0], NULL);
  pthread_join(ta[1], NULL);
  pthread_detach(ta[2]);
  pthread_detach(ta[3]);
  /* Group B: 4 threads with 1 MiB stacks; even ones detached at birth, odd ones never joined. */
  spawn_group_b(b, 4, tb);
  pthread_t p, om;
  pthread_create(&p, NULL, parked, NULL);
  pthread_create(&om, NULL, orphan_maker, NULL);
  pthread_join(om, NULL);
  usleep(300000); /* every leaker has exited */
  expect_line("{\"kind\": \"threads\", \"group_a_threads\": 6, \"group_a_exited_bytes\": %ld, \"group_a_unjoined\": 2, "
              "\"group_b_threads\": 4, \"group_b_exited_bytes\": %ld, \"group_b_unjoined\": 2, "
              "\"group_b_stack\": %d, \"parked_bytes\": 777, \"orphan_bytes\": 333, \"orphan_tid\": %d}",
              a_bytes, b_bytes, 1 << 20, g_orphan_tid);
  exit(0); /* parked and orphan still alive */
}
