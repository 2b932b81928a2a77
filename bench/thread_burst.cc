// What exited threads leave behind, for the benchmarks: T threads started
// together, each running N malloc/free pairs (enough to fill its event ring),
// all joined; then, under libmemtrace, a report (which retires their slots).
// Prints the resident set before the threads and after the report, so the
// driver can compare 64 and 256 exited threads: memory kept per exited
// thread grows with T, a bounded warm pool does not.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cstdint>

#include "include/memtrace/memtrace.h"

namespace {

pthread_barrier_t g_start;
long g_pairs = 20000;
void* volatile g_sink;

long RssKb() {
  char line[256];
  long kb = -1;
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  }
  fclose(f);
  return kb;
}

void* Worker(void*) {
  pthread_barrier_wait(&g_start);
  for (long i = 0; i < g_pairs; ++i) {
    void* p = malloc(16 + static_cast<size_t>(i % 200));
    g_sink = p;
    free(p);
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 64;
  if (argc > 2) g_pairs = atol(argv[2]);
  if (threads < 1 || threads > 4096) return 2;
  long before = RssKb();
  pthread_t* t = static_cast<pthread_t*>(calloc(static_cast<size_t>(threads), sizeof(pthread_t)));
  pthread_barrier_init(&g_start, nullptr, static_cast<unsigned>(threads));
  for (int i = 0; i < threads; ++i) {
    if (pthread_create(&t[i], nullptr, Worker, nullptr) != 0) return 3;
  }
  for (int i = 0; i < threads; ++i) pthread_join(t[i], nullptr);
  free(t);
  if (memtrace_dump != nullptr) memtrace_dump(nullptr);
  printf("threads %d rss_before_kb %ld rss_after_kb %ld\n", threads, before, RssKb());
  return 0;
}
