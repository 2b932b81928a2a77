// The order of events across threads.
//
// Invariant (DESIGN.md "Order across threads"): for every address, the order
// of its events' timestamps equals the real order of the malloc/free calls
// that produced them. Hooks take the timestamp of an allocation *after* the
// real allocator returned and the timestamp of a free *before* the real free
// runs. Any hand-over of an address between threads (a pointer passed on, an
// arena lock, a tcache refill) then orders the two timestamps, provided the
// clock is coherent across CPUs and the reading cannot be hoisted above
// earlier loads (hence the lfence before rdtsc).
//
// Two clocks satisfy this:
//  - kTsc: the invariant TSC. Used when the kernel itself trusts it as its
//    clocksource (it verifies cross-CPU synchronisation at boot). ~10 ns, no
//    shared cache line.
//  - kCounter: a global atomic counter. Always correct, but every event
//    writes one shared cache line. It lives in the shared region (region.h),
//    where the watcher reads it for its watermark.
// The flusher's watermark (flush/merger.cc) relies on the same clock.
#pragma once

#include <atomic>
#include <cstdint>

#include "src/capture/compiler.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define MT_HAVE_TSC 1
#endif

namespace memtrace {

enum class ClockKind : int { kTsc = 0, kCounter = 1 };

struct ClockState {
  std::atomic<int> kind{static_cast<int>(ClockKind::kCounter)};
  // The counter clock's value: in the region once there is one.
  std::atomic<std::atomic<uint64_t>*> counter{nullptr};
  alignas(64) std::atomic<uint64_t> local_counter{1};  // until then (and in unit tests)
};
inline ClockState g_clock;

// Where the counter clock counts: `counter` (the region's), or the local one.
void ClockUseCounter(std::atomic<uint64_t>* counter) noexcept;
// In the watcher's own code (see handoff.h): the program's clock, as chosen
// and calibrated at its start-up.
void ClockAdopt(int kind, std::atomic<uint64_t>* counter, uint64_t start_ts, uint64_t start_ns) noexcept;
// The calibration point ClockToNanos uses (for the handoff).
void ClockStart(uint64_t* start_ts, uint64_t* start_ns) noexcept;

MT_ALWAYS_INLINE std::atomic<uint64_t>& ClockCounter() noexcept {
  std::atomic<uint64_t>* c = g_clock.counter.load(std::memory_order_relaxed);
  return c != nullptr ? *c : g_clock.local_counter;
}

// Timestamp for an event. Monotonic per thread; see the invariant above.
MT_ALWAYS_INLINE uint64_t ClockNow() noexcept {
#ifdef MT_HAVE_TSC
  if (MT_LIKELY(g_clock.kind.load(std::memory_order_relaxed) == static_cast<int>(ClockKind::kTsc))) {
    _mm_lfence();
    return __rdtsc();
  }
#endif
  return ClockCounter().fetch_add(1, std::memory_order_seq_cst);
}

// The flusher's reading for its watermark: no later load may run before it.
inline uint64_t ClockNowFenced() noexcept {
#ifdef MT_HAVE_TSC
  if (g_clock.kind.load(std::memory_order_relaxed) == static_cast<int>(ClockKind::kTsc)) {
    _mm_mfence();
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
  }
#endif
  return ClockCounter().load(std::memory_order_seq_cst);
}

// Chooses the clock (MEMTRACE_CLOCK=auto|tsc|counter). Returns the one chosen.
ClockKind SelectClock(int requested /* ClockMode */) noexcept;

// CLOCK_MONOTONIC in nanoseconds (for pacing and elapsed times, not events).
uint64_t MonotonicNanos() noexcept;

// Converts timestamps to nanoseconds since tracing started (approximate for
// the TSC: calibrated against CLOCK_MONOTONIC between start and the call).
void ClockMarkStart() noexcept;
uint64_t ClockToNanos(uint64_t ts) noexcept;

}  // namespace memtrace
