// Leaks at sites the output tests know: one source line that allocates
// through three call instructions (so the report must merge three stacks
// into one site), a large leak, and a leak by a worker thread that exits.
// Prints its ground truth as one MEMTRACE_EXPECT line. The test also builds
// this file from a directory whose name is not UTF-8 (tests/e2e/test_outputs.py).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "include/memtrace/memtrace.h"

static void* volatile keep[8];

__attribute__((noinline)) void repeated_line(void) {
  keep[0] = malloc(777); keep[1] = malloc(777); keep[2] = malloc(777);  // one line, three calls
}

__attribute__((noinline)) void leak_big(void) { keep[3] = malloc(100000); }

static void* worker(void* arg) {
  (void)arg;
  keep[4] = malloc(4000);
  return NULL;
}

int main(void) {
  if (memtrace_mark) memtrace_mark("start");
  repeated_line();
  leak_big();
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  pthread_join(t, NULL);
  if (memtrace_mark) memtrace_mark("leaked");
  printf("MEMTRACE_EXPECT {\"kind\": \"outputs\", \"repeated_line\": %d, \"leak_big\": %d, \"worker\": %d, "
         "\"version_api\": \"%s\"}\n",
         3 * 777, 100000, 4000, memtrace_version ? memtrace_version() : "");
  return 0;
}
