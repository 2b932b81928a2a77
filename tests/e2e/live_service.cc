// A long-running "service" for the live-report tests, driven by commands on
// stdin (one per line; each answered "ok <n>" on stdout, with write(2) so no
// stdio buffer is allocated):
//   reload        grow_cache() keeps 4 more blocks of 16 KiB (65536 bytes);
//                 steady_work() allocates and frees (no growth)
//   mark LABEL    memtrace_mark(LABEL)
//   handled       prints how many times our own SIGUSR2 handler ran
//   churn N       starts N threads that allocate and free until quit
//   quit          exits normally
// Options: --sigaction / --signal install the program's own SIGUSR2 handler
// (after libmemtrace's constructor, like any program would).
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "include/memtrace/memtrace.h"

namespace {

std::atomic<int> g_handled{0};
std::atomic<bool> g_quit{false};
void* volatile g_cache[4096];  // volatile: never read, so the compiler could drop the mallocs
int g_cached = 0;

void OnUsr2(int) { g_handled.fetch_add(1); }

void Say(const char* what, long n) {
  char buf[128];
  int len = 0;
  for (const char* p = what; *p != '\0' && len < 100; ++p) buf[len++] = *p;
  buf[len++] = ' ';
  char digits[24];
  int d = 0;
  if (n == 0) digits[d++] = '0';
  bool neg = n < 0;
  for (unsigned long v = neg ? -n : n; v > 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  if (neg) buf[len++] = '-';
  while (d > 0) buf[len++] = digits[--d];
  buf[len++] = '\n';
  ssize_t w = write(1, buf, static_cast<size_t>(len));
  (void)w;
}

}  // namespace

extern "C" __attribute__((noinline)) void grow_cache() {
  for (int i = 0; i < 4 && g_cached < 4096; ++i) g_cache[g_cached++] = malloc(16384);
}

extern "C" __attribute__((noinline)) void steady_work() {
  void* volatile blocks[8];
  for (int i = 0; i < 8; ++i) blocks[i] = malloc(1000 + i);
  for (int i = 0; i < 8; ++i) free(blocks[i]);
}

extern "C" __attribute__((noinline)) void* churn_thread(void*) {
  while (!g_quit.load()) {
    void* volatile p = malloc(64 + (reinterpret_cast<uintptr_t>(&p) & 255));
    free(p);
  }
  return nullptr;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--sigaction") == 0) {
      struct sigaction sa{};
      sa.sa_handler = OnUsr2;
      sa.sa_flags = SA_RESTART;  // our read() loop must not see EINTR
      sigemptyset(&sa.sa_mask);
      sigaction(SIGUSR2, &sa, nullptr);
    } else if (strcmp(argv[i], "--signal") == 0) {
      signal(SIGUSR2, OnUsr2);
    }
  }
  pthread_t threads[16];
  int nthreads = 0;
  char line[256];
  size_t len = 0;
  long reloads = 0;
  for (;;) {
    char c;
    ssize_t r = read(0, &c, 1);
    if (r <= 0) break;
    if (c != '\n') {
      if (len < sizeof(line) - 1) line[len++] = c;
      continue;
    }
    line[len] = '\0';
    len = 0;
    if (strcmp(line, "reload") == 0) {
      grow_cache();
      steady_work();
      Say("ok", ++reloads);
    } else if (strncmp(line, "mark ", 5) == 0) {
      if (memtrace_mark != nullptr) memtrace_mark(line + 5);
      Say("ok", 0);
    } else if (strcmp(line, "handled") == 0) {
      Say("handled", g_handled.load());
    } else if (strncmp(line, "churn ", 6) == 0) {
      int n = atoi(line + 6);
      for (int i = 0; i < n && nthreads < 16; ++i) pthread_create(&threads[nthreads++], nullptr, churn_thread, nullptr);
      Say("ok", nthreads);
    } else if (strcmp(line, "quit") == 0) {
      break;
    }
  }
  g_quit.store(true);
  for (int i = 0; i < nthreads; ++i) pthread_join(threads[i], nullptr);
  Say("bye", reloads);
  return 0;
}
