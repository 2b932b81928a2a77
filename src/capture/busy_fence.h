// How a hook publishes its busy stamp (capture.h) before it reads the clock.
//
// The flusher's watermark (flush/merger.h) needs: if the flusher read its
// clock C and then saw a slot idle, every timestamp that slot's thread takes
// afterwards is >= C. A hook guarantees it by making its busy-stamp store
// visible before it reads the clock -- a full fence per hook (a locked
// exchange, ~20 cycles, two per malloc+free pair).
//
// When the kernel offers membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), the
// cost moves to the flusher (in the watcher process) instead (an asymmetric fence, as userspace RCU
// and hazard pointers do): hooks store the stamp with a plain store, and the
// flusher calls membarrier between reading its clock and reading the stamps.
// membarrier makes every running thread of every registered process (the
// traced program registers) execute a full barrier (an interrupt, which is precise) before it returns; threads not
// running got one when they were switched out. So for each thread, either its
// stamp store came before that barrier and the flusher sees it, or the store
// -- and the clock reading that follows it in program order -- came after
// the barrier, hence after C was read, and its timestamp is >= C. One system
// call per watermark (the flusher takes at most one per kWatermarkPeriodNs)
// instead of a fence per event.
#pragma once

#include <atomic>
#include <cstdint>

#include "src/capture/compiler.h"

namespace memtrace {

// True once membarrier is registered: hooks may use plain stores.
inline std::atomic<bool> g_light_busy_stamp{false};

// Registers with membarrier, unless `allow_membarrier` is false (tests).
// Returns the mode in use: "membarrier" or "locked".
const char* BusyFenceInit(bool allow_membarrier) noexcept;
// The flusher's side: a no-op in locked mode, membarrier otherwise. False
// if the stamps read after it cannot be trusted (membarrier failed; the
// hooks are switched to locked stores for the next round).
bool BusyFenceHeavy() noexcept;
// In a fork child: registers the new process again, or falls back to locked
// stores (the child has a single thread at that point).
void BusyFenceAfterFork() noexcept;

// A hook's side: publishes `stamp` in `busy` before any later clock reading.
MT_ALWAYS_INLINE void BusyFenceStore(std::atomic<uint64_t>& busy, uint64_t stamp) noexcept {
  if (MT_LIKELY(g_light_busy_stamp.load(std::memory_order_relaxed))) {
    busy.store(stamp, std::memory_order_relaxed);
    asm volatile("" ::: "memory");  // the clock is read after this, in program order
  } else {
    busy.exchange(stamp, std::memory_order_seq_cst);
  }
}

}  // namespace memtrace
