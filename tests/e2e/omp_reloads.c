/* The zombie-OpenMP pattern: R "reloads", each run from a fresh host thread
 * that executes one `#pragma omp parallel` region of T threads; every team
 * member allocates a thread-local buffer of S bytes and never frees it.
 * libgomp builds one worker pool per host thread. Variant "exit": each host
 * thread exits after its region (libgomp then lets its workers go);
 * variant "parked": hosts stay alive, blocked, with their idle pools. */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"

#define T 4
#define S 20000

static __thread void* tls_buffer;
static pthread_mutex_t g_park = PTHREAD_MUTEX_INITIALIZER;
static int g_parked;

__attribute__((noinline)) static void team_member_work(void) {
  if (tls_buffer == NULL) {
    tls_buffer = malloc(S); /* per-thread scratch, never freed: the leak */
    memset(tls_buffer, 1, S);
  }
}

__attribute__((noinline)) static void* reload(void* arg) {
  (void)arg;
#pragma omp parallel num_threads(T)
  team_member_work();
  if (g_parked) {
    pthread_mutex_lock(&g_park);
    pthread_mutex_unlock(&g_park);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int reloads = argc > 1 ? atoi(argv[1]) : 5;
  g_parked = argc > 2 && strcmp(argv[2], "parked") == 0;
  pthread_mutex_lock(&g_park);
  pthread_t hosts[64];
  for (int r = 0; r < reloads; ++r) {
    pthread_create(&hosts[r], NULL, reload, NULL);
    if (!g_parked) pthread_join(hosts[r], NULL);
  }
  usleep(300000); /* released workers finish exiting */
  expect_line("{\"kind\": \"openmp\", \"reloads\": %d, \"team\": %d, \"bytes_each\": %d, \"parked\": %d}", reloads, T, S,
              g_parked);
  exit(0);
}
