// Cross-thread stress: kThreads threads allocate blocks of mixed sizes and
// post most of them to another thread's mailbox, which frees them; a share
// is realloc'ed first. glibc hands the same addresses out again and again,
// so an ordering mistake in the tracer shows up as false leaks or lost frees.
// Everything is freed at the end. The program counts its own calls and states
// them; the report's numbers for this program's sites must match exactly.
#include <pthread.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>

#include "expect.h"

namespace {

constexpr int kThreads = 8;
constexpr int kMailbox = 1024;

struct Mailbox {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  void* slots[kMailbox];
  int head = 0, count = 0;
};

Mailbox g_boxes[kThreads];
std::atomic<uint64_t> g_allocs{0}, g_frees{0}, g_reallocs{0};
int g_iterations = 250000;

bool Post(int to, void* p) {
  Mailbox& b = g_boxes[to];
  pthread_mutex_lock(&b.mu);
  bool ok = b.count < kMailbox;
  if (ok) {
    b.slots[(b.head + b.count) % kMailbox] = p;
    ++b.count;
  }
  pthread_mutex_unlock(&b.mu);
  return ok;
}

void* Take(int me) {
  Mailbox& b = g_boxes[me];
  void* p = nullptr;
  pthread_mutex_lock(&b.mu);
  if (b.count > 0) {
    p = b.slots[b.head];
    b.head = (b.head + 1) % kMailbox;
    --b.count;
  }
  pthread_mutex_unlock(&b.mu);
  return p;
}

__attribute__((noinline)) void StressFree(void* p) {
  free(p);
  g_frees.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((noinline)) void* StressWorker(void* arg) {
  int me = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  uint64_t rng = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(me + 1);
  uint64_t allocs = 0, reallocs = 0;
  for (int i = 0; i < g_iterations; ++i) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    size_t size = 8 + rng % 512;
    void* p = malloc(size);
    ++allocs;
    if (rng % 5 == 0) {
      p = realloc(p, size * 2);  // a free and an allocation, in one call
      ++reallocs;
    }
    int to = static_cast<int>((rng >> 20) % kThreads);
    if (to == me || !Post(to, p)) StressFree(p);  // most go to another thread
    while (void* q = Take(me)) StressFree(q);
  }
  g_allocs.fetch_add(allocs, std::memory_order_relaxed);
  g_reallocs.fetch_add(reallocs, std::memory_order_relaxed);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_iterations = atoi(argv[1]);
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) pthread_create(&threads[i], nullptr, StressWorker, reinterpret_cast<void*>(static_cast<intptr_t>(i)));
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], nullptr);
  for (int i = 0; i < kThreads; ++i)
    while (void* q = Take(i)) StressFree(q);
  // Each realloc is one free and one allocation in the report.
  expect_line("{\"kind\": \"stress\", \"allocs\": %llu, \"frees\": %llu, \"reallocs\": %llu, \"threads\": %d}",
              static_cast<unsigned long long>(g_allocs.load()), static_cast<unsigned long long>(g_frees.load()),
              static_cast<unsigned long long>(g_reallocs.load()), kThreads);
  return 0;
}
