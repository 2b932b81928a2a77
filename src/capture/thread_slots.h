// Per-thread slots: each traced thread owns one slot while it lives, holding
// its lock-free single-producer/single-consumer event ring and the "busy since"
// stamp the flusher's watermark reads.
//
// Slot life cycle (state):
//   kFree --(thread, CAS)--> kActive --(thread exit)--> kRetiring
//   kRetiring --(flusher, after the ring is empty)--> kFree
// A slot and its ring are reused by later threads, so a program that creates
// millions of short threads keeps as many slots as it has threads alive at once.
//
// Back-pressure: a full ring makes the producer wait (counted as a stall); an
// event is dropped (and counted) only when no consumer exists any more: after
// the final report, or when the watcher is gone.
//
// The table's mutable state (chunks, counters, rings, memos) lives in the
// shared region (region.h), where the watcher drains it; the SlotTable object
// itself only holds pointers set before the watcher is forked.
#pragma once

#include <atomic>
#include <cstdint>

#include "src/capture/compiler.h"
#include "src/capture/event.h"

namespace memtrace {

class StackMemo;

inline constexpr uint64_t kIdle = UINT64_MAX;
inline constexpr uint32_t kRingCapacity = 1u << 14;  // events; 512 KiB per ring
inline constexpr uint32_t kMaxSlots = 8192;          // threads alive at once
// Free slots whose ring and memo stay resident for the next threads; the
// pages of any further slot freed are given back to the kernel (no memory
// kept for threads that have exited, beyond these).
inline constexpr uint32_t kWarmFreeSlots = 8;

enum SlotState : uint32_t { kSlotFree = 0, kSlotActive = 1, kSlotRetiring = 2 };

struct alignas(64) ThreadSlot {
  // Written by the owner at each hook entry/exit, read by the flusher.
  std::atomic<uint64_t> busy_since{kIdle};
  // Producer side.
  alignas(64) std::atomic<uint64_t> tail{0};
  uint64_t cached_head = 0;
  // Consumer side.
  alignas(64) std::atomic<uint64_t> head{0};
  std::atomic<uint32_t> state{kSlotFree};
  uint32_t index = 0;
  Event* events = nullptr;  // kRingCapacity entries, mapped on first use
  // The owner's stack-walk memo: attached after its first few walks (a short
  // thread never touches one; see CaptureStackWalk), kept for later owners.
  StackMemo* memo = nullptr;
  StackMemo* memo_storage = nullptr;
  // The bytes of ring and memo whose pages the flusher gave back as it freed
  // the slot (0: all resident); the next owner counts them in again.
  std::atomic<uint32_t> decommitted_bytes{0};
  uint32_t decommitted_memo = 0;  // the memo's share, given back with the ring
};

struct SlotCounters {
  std::atomic<uint64_t> ring_stalls{0};     // pushes that had to wait
  std::atomic<uint64_t> dropped_events{0};  // pushes with no consumer left
  std::atomic<uint64_t> slot_exhausted{0};  // threads left untraced
};

// Cache-line aligned (and so padded): the flusher writes consumer_active_
// every round, and no flag that every hook reads may share its line.
class alignas(64) SlotTable {
 public:
  // Maps the table's shared state and its first chunk of slots (from the
  // region when there is one); false if that failed.
  bool Init() noexcept;
  // A free slot, made active with a ring; nullptr if none is left. When
  // every slot is taken but some belong to threads that have exited (the
  // watcher frees them as it drains their rings: a burst of short threads
  // can outrun it), waits for one, at most ~200 ms, like a full ring does.
  ThreadSlot* Acquire() noexcept;
  // A slot's thread has exited (its slot is retiring).
  void Retired() noexcept { shared_->retiring.fetch_add(1, std::memory_order_relaxed); }
  // The consumer freed a retiring slot.
  void Freed() noexcept {
    uint32_t r = shared_->retiring.load(std::memory_order_relaxed);
    while (r > 0 && !shared_->retiring.compare_exchange_weak(r, r - 1, std::memory_order_relaxed)) {
    }
  }
  // Producer: append one event; waits while the ring is full.
  MT_ALWAYS_INLINE void Push(ThreadSlot* s, const Event& e) noexcept {
    uint64_t t = s->tail.load(std::memory_order_relaxed);
    if (MT_UNLIKELY(t - s->cached_head >= kRingCapacity)) {
      if (!WaitForSpace(s, t)) return;
    }
    s->events[t & (kRingCapacity - 1)] = e;
    s->tail.store(t + 1, std::memory_order_release);
  }

  // Slot i, for i < high_water() (its chunk exists).
  ThreadSlot* slot(uint32_t i) noexcept {
    return &shared_->chunks[i / kChunkSlots].load(std::memory_order_acquire)[i % kChunkSlots];
  }
  uint32_t high_water() const noexcept { return shared_->high_water.load(std::memory_order_acquire); }
  SlotCounters& counters() noexcept { return shared_->counters; }
  // The flusher, as it frees a retired slot (before storing kSlotFree): gives
  // its ring's and memo's pages back to the kernel.
  void Decommit(ThreadSlot* s) noexcept;
  // Set while some thread drains the rings (the watcher, or a test's consumer).
  void SetConsumerActive(bool active) noexcept { shared_->consumer_active.store(active, std::memory_order_release); }
  // Producer side: how a waiting producer learns that the consumer is gone
  // for good (the watcher died) and it must drop instead of waiting; null:
  // trust the consumer-active flag alone. Checked every few milliseconds.
  void SetConsumerAliveCheck(bool (*alive)()) noexcept { consumer_alive_ = alive; }
  // In a fork child, after the region was replaced: an empty table again.
  bool Reset() noexcept;
  // Gives `s` its walk memo (allocated once per slot, cleared for each owner).
  void AttachMemo(ThreadSlot* s) noexcept;

 private:
  MT_NOINLINE bool WaitForSpace(ThreadSlot* s, uint64_t tail) noexcept;
  bool WaitForSpaceLoop(ThreadSlot* s, uint64_t tail) noexcept;

  // The slots, in chunks mapped and constructed when a thread first needs
  // one (a process with a few threads touches one chunk, not 1.5 MiB).
  static constexpr uint32_t kChunkSlots = 64;
  static_assert(kMaxSlots % kChunkSlots == 0);
  struct Shared {
    std::atomic<ThreadSlot*> chunks[kMaxSlots / kChunkSlots] = {};
    std::atomic<uint32_t> high_water{0};
    std::atomic<uint32_t> retiring{0};  // slots whose thread exited, not yet freed
    std::atomic<bool> consumer_active{false};
    SlotCounters counters;
  };
  ThreadSlot* Chunk(uint32_t c) noexcept;
  ThreadSlot* TryAcquire() noexcept;
  Shared* shared_ = nullptr;
  bool (*consumer_alive_)() = nullptr;
};

inline SlotTable g_slots;

}  // namespace memtrace
