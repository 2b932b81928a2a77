// Sampling mode (MEMTRACE_SAMPLE_BYTES=P): instead of every allocation, a
// byte-weighted Poisson process picks allocations, as tcmalloc and jemalloc
// do. Each thread counts down the bytes it allocates; when the count crosses
// zero the allocation is sampled and a new count is drawn from an exponential
// distribution of mean P. So an allocation of s bytes is sampled with
// probability 1 - exp(-s/P), whatever the sizes around it, and a sampled one
// stands for s / (1 - exp(-s/P)) bytes (EstimatedBytes): summing that over
// the live samples is an unbiased estimate of live bytes per site.
//
// An allocation that is not sampled costs a subtraction and a compare: no
// stack, no event. Frees must stay exact for sampled blocks and free for the
// rest, so sampled addresses are kept in a lock-free open-addressed set that
// free() probes (SampledSet), behind a small counting filter that answers
// "certainly not sampled" from cache for almost every free.
#pragma once

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "src/capture/compiler.h"
#include "src/capture/thread_state.h"

namespace memtrace {

// 0: full tracing (every allocation). Set once, before tracing starts.
inline uint64_t g_sample_period = 0;

// Slow path: draws the next countdown; true if this allocation is sampled.
bool SampleSlow(ThreadState& t, size_t size) noexcept;

MT_ALWAYS_INLINE bool SampleAllocation(size_t size) noexcept {
  ThreadState& t = t_state;
  t.sample_countdown -= static_cast<int64_t>(size);
  if (MT_LIKELY(t.sample_countdown > 0)) return false;
  return SampleSlow(t, size);
}

// The bytes a sampled allocation of `size` stands for.
inline uint64_t EstimatedBytes(uint64_t size, uint64_t period) {
  if (period == 0 || size == 0) return size;
  double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(period));  // 1 - exp(-s/P)
  return static_cast<uint64_t>(std::llround(static_cast<double>(size) / p));
}

// The addresses of live sampled blocks. Lock-free: an address is inserted by
// the thread that got it from malloc and erased by the one that frees it, and
// the allocator orders those, so an address is never inserted twice.
// Cache-line aligned (and so padded): its counters are written, and the
// flags every hook reads must not share their lines.
class alignas(64) SampledSet {
 public:
  bool Init() noexcept;
  // False when the table is too full: the allocation is then not sampled.
  bool Insert(uintptr_t p) noexcept;
  // True if `p` was a sampled block (now removed).
  MT_ALWAYS_INLINE bool Erase(uintptr_t p) noexcept {
    if (MT_LIKELY(CertainlyNot(p))) return false;
    return EraseSlow(p);
  }
  // True if `p` is certainly not a sampled block (the filter's answer for
  // almost every free); false means "look in the set".
  MT_ALWAYS_INLINE bool CertainlyNot(uintptr_t p) const noexcept {
    return filter_[FilterHash(p)].load(std::memory_order_acquire) == 0;
  }
  uint64_t overflows() const noexcept { return overflows_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kBits = 20;  // 1M slots, 8 MiB of address space
  static constexpr uint32_t kMaxProbe = 64;
  static constexpr uintptr_t kEmpty = 0, kTombstone = 1;
  static constexpr uint32_t kFilterBits = 16;  // 64K counters: 128 KiB, stays in cache
  static uint32_t Hash(uintptr_t p) noexcept {
    return static_cast<uint32_t>(((p >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - kBits));
  }
  static uint32_t FilterHash(uintptr_t p) noexcept {
    return static_cast<uint32_t>(((p >> 4) * 0xc2b2ae3d27d4eb4full) >> (64 - kFilterBits));
  }
  bool EraseSlow(uintptr_t p) noexcept;
  // filter_[h] counts the sampled addresses with FilterHash h: zero means
  // "not sampled" for sure. Incremented after an insert, decremented after an
  // erase; the allocator orders an address's insert before its free.
  std::atomic<uint16_t> filter_[1u << kFilterBits] = {};
  std::atomic<uintptr_t>* slots_ = nullptr;
  std::atomic<uint64_t> overflows_{0};
};

inline SampledSet g_sampled;

}  // namespace memtrace
