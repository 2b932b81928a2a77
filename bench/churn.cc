// Malloc churn for the benchmarks: T threads each run N malloc/free pairs of
// mixed sizes from a call depth of D frames (a model server's stacks are 16-26
// deep), handing every other block to the next thread to free (cross-thread
// frees), and leaking one block in 100000. An optional 4th argument H first
// allocates H blocks of 16-272 bytes and keeps them to the end (the tracer's
// memory per live block). Prints the pair count and the
// worker threads' own CPU time per pair (what the hooks cost the program's
// threads, without the tracer's background thread).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <atomic>
#include <cstdint>

namespace {

int g_threads = 1, g_depth = 20;
long g_iterations = 2000000;
constexpr int kBox = 256;

struct alignas(64) Box {
  std::atomic<void*> slots[kBox];
};
Box g_boxes[16];
void* volatile g_leaks[1024];
std::atomic<long> g_pairs{0};
std::atomic<long> g_worker_cpu_ns{0};

__attribute__((noinline)) void Work(int me, uint64_t* rng, long n) {
  Box& out = g_boxes[(me + 1) % g_threads];
  Box& in = g_boxes[me];
  for (long i = 0; i < n; ++i) {
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    size_t size = 16 + (x % 8 == 0 ? x % 4096 : x % 256);
    void* p = malloc(size);
    static_cast<char*>(p)[0] = 1;
    if (i % 100000 == 99999) {
      g_leaks[(i / 100000) % 1024] = p;
      continue;
    }
    if (g_threads > 1 && (i & 1)) {
      // Swap into the next thread's box; free whatever was there.
      void* old = out.slots[i % kBox].exchange(p, std::memory_order_acq_rel);
      if (old != nullptr) free(old);
    } else {
      free(p);
    }
    if (g_threads > 1 && (i & 255) == 0) {
      for (int k = 0; k < kBox; ++k) {
        if (void* q = in.slots[k].exchange(nullptr, std::memory_order_acq_rel)) free(q);
      }
    }
  }
}

__attribute__((noinline)) void Descend(int me, int depth, uint64_t* rng, long n) {
  if (depth <= 0) {
    Work(me, rng, n);
    return;
  }
  Descend(me, depth - 1, rng, n);
  asm volatile("" ::: "memory");  // no tail call: keep the frames
}

void* Thread(void* arg) {
  int me = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  uint64_t rng = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(me + 1);
  timespec t0, t1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  Descend(me, g_depth, &rng, g_iterations / g_threads);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  g_worker_cpu_ns.fetch_add((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec));
  g_pairs.fetch_add(g_iterations / g_threads);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_threads = atoi(argv[1]);
  if (argc > 2) g_iterations = atol(argv[2]);
  if (argc > 3) g_depth = atoi(argv[3]);
  long hold = argc > 4 ? atol(argv[4]) : 0;
  if (g_threads < 1 || g_threads > 16 || hold < 0) return 2;
  void** held = hold > 0 ? static_cast<void**>(malloc(sizeof(void*) * static_cast<size_t>(hold))) : nullptr;
  for (long i = 0; i < hold; ++i) held[i] = malloc(16 + static_cast<size_t>(i * 7919) % 257);
  pthread_t t[16];
  for (int i = 0; i < g_threads; ++i) pthread_create(&t[i], nullptr, Thread, reinterpret_cast<void*>(static_cast<intptr_t>(i)));
  for (int i = 0; i < g_threads; ++i) pthread_join(t[i], nullptr);
  for (int b = 0; b < g_threads; ++b)
    for (int k = 0; k < kBox; ++k)
      if (void* q = g_boxes[b].slots[k].exchange(nullptr)) free(q);
  g_leaks[0] = held;  // still reachable: the held blocks are live at exit
  printf("pairs %ld worker_cpu_ns_per_pair %.1f\n", g_pairs.load(),
         static_cast<double>(g_worker_cpu_ns.load()) / static_cast<double>(g_pairs.load()));
  return 0;
}
