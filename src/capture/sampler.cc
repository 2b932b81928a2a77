// Sampling mode (see sampler.h).
#include "src/capture/sampler.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "src/capture/clock.h"
#include "src/capture/os_memory.h"
#include "src/capture/region.h"

namespace memtrace {
namespace {

// xorshift64*: a fast per-thread generator; the quality needed is modest.
uint64_t NextRandom(uint64_t& state) noexcept {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dull;
}

int64_t NextCountdown(ThreadState& t) noexcept {
  // Exponential with mean P: -ln(U) * P, U uniform in (0, 1].
  double u = (static_cast<double>(NextRandom(t.sample_rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double v = -std::log(u) * static_cast<double>(g_sample_period);
  return static_cast<int64_t>(v) + 1;
}

}  // namespace

bool SampleSlow(ThreadState& t, size_t size) noexcept {
  if (g_sample_period == 0) return true;  // full tracing
  if (t.sample_rng == 0) {
    // A thread's first allocation: seed, then draw its first countdown.
    t.sample_rng = (static_cast<uint64_t>(syscall(SYS_gettid)) * 0x9e3779b97f4a7c15ull) ^ ClockNow() ^ 1;
    t.sample_countdown = NextCountdown(t) - static_cast<int64_t>(size);
    if (t.sample_countdown > 0) return false;
  }
  t.sample_countdown = NextCountdown(t);
  return true;
}

bool SampledSet::Init() noexcept {
  slots_ = static_cast<std::atomic<uintptr_t>*>(OsAllocate(sizeof(std::atomic<uintptr_t>) << kBits));
  return slots_ != nullptr;
}

bool SampledSet::Insert(uintptr_t p) noexcept {
  if (slots_ == nullptr) return false;
  uint32_t h = Hash(p);
  for (uint32_t i = 0; i < kMaxProbe; ++i) {
    std::atomic<uintptr_t>& s = slots_[(h + i) & ((1u << kBits) - 1)];
    uintptr_t v = s.load(std::memory_order_relaxed);
    while (v == kEmpty || v == kTombstone) {
      if (s.compare_exchange_weak(v, p, std::memory_order_release, std::memory_order_relaxed)) {
        filter_[FilterHash(p)].fetch_add(1, std::memory_order_release);
        return true;
      }
    }
  }
  overflows_.fetch_add(1, std::memory_order_relaxed);
  if (g_region.active()) g_region.header()->sample_overflows.fetch_add(1, std::memory_order_relaxed);  // for the watcher
  return false;
}

bool SampledSet::EraseSlow(uintptr_t p) noexcept {
  if (slots_ == nullptr) return false;
  uint32_t h = Hash(p);
  for (uint32_t i = 0; i < kMaxProbe; ++i) {
    std::atomic<uintptr_t>& s = slots_[(h + i) & ((1u << kBits) - 1)];
    uintptr_t v = s.load(std::memory_order_acquire);
    if (v == p) {
      s.store(kTombstone, std::memory_order_release);
      filter_[FilterHash(p)].fetch_sub(1, std::memory_order_release);
      return true;
    }
    if (v == kEmpty) return false;
  }
  return false;
}

}  // namespace memtrace
