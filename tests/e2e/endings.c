/* Every way a process ends: a seeded leak at a known site, then the ending
 * named on the command line. The watcher must write the final report in
 * every case, exact, and the program's parent must see exactly what it would
 * see untraced.
 *
 *   endings exit N | _exit N | abort | segv | segv-handled | leak-forever STEP
 *
 * leak-forever leaks STEP bytes at a time at leak_step() and prints the
 * running total after each one ("total N"), until it is killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"

static void* volatile keep[1 << 16];

enum { kLeakLine = __LINE__ + 1 };
__attribute__((noinline)) static void leak_here(void) { keep[0] = malloc(4321); }
/* Lost for good: the pointer is dropped (a definite leak for the gate). */
enum { kLoseLine = __LINE__ + 1 };
__attribute__((noinline)) static void lose_here(void) { *(void* volatile*)&keep[1] = malloc(1234); keep[1] = 0; }

__attribute__((noinline)) static void* leak_step(size_t n) {
  char* p = malloc(n);
  if (p != NULL) memset(p, 1, n); /* resident, for a memory limit to bite */
  return p;
}

static void on_segv(int sig) {
  (void)sig;
  static const char msg[] = "handled SIGSEGV\n";
  ssize_t w = write(1, msg, sizeof(msg) - 1);
  (void)w;
  _exit(7);
}

static void say_total(unsigned long long total) {
  char buf[64];
  int n = snprintf(buf, sizeof(buf), "total %llu\n", total);
  ssize_t w = write(1, buf, (size_t)n);
  (void)w;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* mode = argv[1];
  int arg = argc > 2 ? atoi(argv[2]) : 0;
  leak_here();
  EXPECT_SITE("leak_here", kLeakLine, 4321, 1);
  lose_here();
  EXPECT_SITE("lose_here", kLoseLine, 1234, 1);
  if (strcmp(mode, "exit") == 0) exit(arg);
  if (strcmp(mode, "_exit") == 0) _exit(arg);
  if (strcmp(mode, "abort") == 0) abort();
  if (strcmp(mode, "segv-handled") == 0) signal(SIGSEGV, on_segv);
  if (strncmp(mode, "segv", 4) == 0) {
    volatile int* bad = (volatile int*)(unsigned long)arg; /* 0: a null dereference */
    *bad = 1;
    return 1;
  }
  if (strcmp(mode, "leak-forever") == 0) {
    size_t step = arg > 0 ? (size_t)arg : 65536;
    unsigned long long total = 0;
    for (unsigned i = 1;; ++i) {
      void* p = leak_step(step);
      if (p == NULL) {
        /* Under an address-space limit malloc fails instead of the OOM
         * killer striking: end the way the OOM killer would. */
        kill(getpid(), SIGKILL);
      }
      keep[i % (1 << 16)] = p;
      total += step;
      say_total(total);
      if (i % 64 == 0) usleep(1000);
    }
  }
  return 2;
}
