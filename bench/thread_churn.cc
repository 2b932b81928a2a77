// Thread churn for the benchmarks: R rounds, each starting a short-lived pool
// of T threads that each run N malloc/free pairs (mixed sizes, a 16-frame
// call chain) and exit. Mode "pthread" starts the pool with pthread_create;
// mode "omp" starts a host thread per round that opens an OpenMP parallel
// region of T threads and exits -- so libgomp builds a new pool each round
// and its workers exit with the host, as in a Go or Python service that
// calls an OpenMP library from fresh threads. Prints the pair count and the
// threads started.
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <cstdint>

namespace {

int g_rounds = 200, g_threads = 4, g_depth = 16;
long g_pairs_per_thread = 2000;
std::atomic<long> g_pairs{0};
std::atomic<long> g_started{0};
void* volatile g_sink;

__attribute__((noinline)) void Work(uint64_t seed) {
  uint64_t x = seed | 1;
  for (long i = 0; i < g_pairs_per_thread; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    void* p = malloc(16 + (x % 8 == 0 ? x % 4096 : x % 256));
    g_sink = p;
    free(p);
  }
  g_pairs.fetch_add(g_pairs_per_thread, std::memory_order_relaxed);
}

__attribute__((noinline)) void Descend(int depth, uint64_t seed) {
  if (depth <= 0) {
    Work(seed);
    return;
  }
  Descend(depth - 1, seed);
  asm volatile("" ::: "memory");  // no tail call: keep the frames
}

void* PthreadWorker(void* arg) {
  g_started.fetch_add(1, std::memory_order_relaxed);
  Descend(g_depth, reinterpret_cast<uintptr_t>(arg) * 0x9e3779b97f4a7c15ull);
  return nullptr;
}

void* OmpHost(void* arg) {
  uint64_t round = reinterpret_cast<uintptr_t>(arg);
#pragma omp parallel num_threads(g_threads)
  {
    if (omp_get_thread_num() != 0) g_started.fetch_add(1, std::memory_order_relaxed);
    Descend(g_depth, (round * 64 + static_cast<uint64_t>(omp_get_thread_num())) * 0x9e3779b97f4a7c15ull);
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  bool omp = argc > 1 && strcmp(argv[1], "omp") == 0;
  if (argc > 2) g_rounds = atoi(argv[2]);
  if (argc > 3) g_threads = atoi(argv[3]);
  if (argc > 4) g_pairs_per_thread = atol(argv[4]);
  if (g_threads < 1 || g_threads > 64 || g_rounds < 1) return 2;
  for (int r = 0; r < g_rounds; ++r) {
    if (omp) {
      pthread_t host;
      g_started.fetch_add(1, std::memory_order_relaxed);
      pthread_create(&host, nullptr, OmpHost, reinterpret_cast<void*>(static_cast<uintptr_t>(r)));
      pthread_join(host, nullptr);
    } else {
      pthread_t t[64];
      for (int i = 0; i < g_threads; ++i) {
        pthread_create(&t[i], nullptr, PthreadWorker, reinterpret_cast<void*>(static_cast<uintptr_t>(r * 64 + i)));
      }
      for (int i = 0; i < g_threads; ++i) pthread_join(t[i], nullptr);
    }
  }
  printf("pairs %ld threads %ld\n", g_pairs.load(), g_started.load());
  return 0;
}
