// Slot acquisition and the ring's slow path (see thread_slots.h).
#include "src/capture/thread_slots.h"

#include <time.h>

#include <cerrno>

#include <new>

#include "src/capture/os_memory.h"
#include "src/capture/stack_memo.h"

namespace memtrace {

bool SlotTable::Init() noexcept {
  ready_ = Chunk(0) != nullptr;
  return ready_;
}

ThreadSlot* SlotTable::Chunk(uint32_t c) noexcept {
  ThreadSlot* base = chunks_[c].load(std::memory_order_acquire);
  if (base != nullptr) return base;
  void* mem = OsAllocate(sizeof(ThreadSlot) * kChunkSlots);
  if (mem == nullptr) return nullptr;
  ThreadSlot* fresh = static_cast<ThreadSlot*>(mem);
  for (uint32_t k = 0; k < kChunkSlots; ++k) {
    new (&fresh[k]) ThreadSlot();
    fresh[k].index = c * kChunkSlots + k;
  }
  if (chunks_[c].compare_exchange_strong(base, fresh, std::memory_order_acq_rel)) return fresh;
  OsFree(mem, sizeof(ThreadSlot) * kChunkSlots);  // another thread installed it first
  return base;
}

ThreadSlot* SlotTable::Acquire() noexcept {
  if (!ready_) return nullptr;
  // Lowest free slot first: reuses rings that are already mapped and keeps
  // the range the flusher scans as short as the number of live threads.
  for (uint32_t i = 0; i < kMaxSlots; ++i) {
    ThreadSlot* base = Chunk(i / kChunkSlots);
    if (base == nullptr) break;
    ThreadSlot* s = &base[i % kChunkSlots];
    uint32_t expected = kSlotFree;
    if (s->state.load(std::memory_order_relaxed) != kSlotFree ||
        !s->state.compare_exchange_strong(expected, kSlotActive, std::memory_order_acq_rel)) {
      continue;
    }
    if (s->events == nullptr) {
      s->events = static_cast<Event*>(OsAllocate(sizeof(Event) * kRingCapacity));
      if (s->events == nullptr) {
        s->state.store(kSlotFree, std::memory_order_release);
        return nullptr;
      }
    }
    if (uint32_t back = s->decommitted_bytes.exchange(0, std::memory_order_relaxed)) OsRecommitted(back);
    if (s->memo == nullptr) {
      // Optional: without it every stack is walked.
      if (void* mem = OsAllocate(sizeof(StackMemo))) s->memo = new (mem) StackMemo();
    }
    if (s->memo != nullptr) s->memo->Clear();  // a new thread, a new stack
    s->cached_head = s->head.load(std::memory_order_acquire);
    s->busy_since.store(kIdle, std::memory_order_relaxed);
    uint32_t hw = high_water_.load(std::memory_order_relaxed);
    while (hw < i + 1 && !high_water_.compare_exchange_weak(hw, i + 1, std::memory_order_acq_rel)) {
    }
    return s;
  }
  counters_.slot_exhausted.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void SlotTable::Decommit(ThreadSlot* s) noexcept {
  if (s->decommitted_bytes.load(std::memory_order_relaxed) != 0 || s->events == nullptr) return;
  uint32_t bytes = 0;
  if (OsDecommit(s->events, sizeof(Event) * kRingCapacity)) bytes += sizeof(Event) * kRingCapacity;
  if (s->memo != nullptr && OsDecommit(s->memo, sizeof(StackMemo))) bytes += sizeof(StackMemo);
  s->decommitted_bytes.store(bytes, std::memory_order_relaxed);
}

bool SlotTable::WaitForSpace(ThreadSlot* s, uint64_t tail) noexcept {
  int saved_errno = errno;  // hooks do not save it around a push
  bool ok = WaitForSpaceLoop(s, tail);
  errno = saved_errno;
  return ok;
}

bool SlotTable::WaitForSpaceLoop(ThreadSlot* s, uint64_t tail) noexcept {
  bool stalled = false;
  for (;;) {
    s->cached_head = s->head.load(std::memory_order_acquire);
    if (tail - s->cached_head < kRingCapacity) return true;
    if (!consumer_active_.load(std::memory_order_acquire)) {
      counters_.dropped_events.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (!stalled) {
      stalled = true;
      counters_.ring_stalls.fetch_add(1, std::memory_order_relaxed);
    }
    // The flusher drains every event older than our busy stamp, so the ring
    // empties while we wait (see merger.cc). nanosleep is async-signal-safe.
    timespec ts{0, 20000};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace memtrace
