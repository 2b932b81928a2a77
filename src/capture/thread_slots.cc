// Slot acquisition and the ring's slow path (see thread_slots.h).
#include "src/capture/thread_slots.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include <new>

#include "src/capture/region.h"
#include "src/capture/stack_memo.h"

namespace memtrace {

bool SlotTable::Init() noexcept {
  void* mem = SharedAllocate(sizeof(Shared));
  shared_ = mem != nullptr ? new (mem) Shared() : nullptr;
  return shared_ != nullptr && Chunk(0) != nullptr;
}

bool SlotTable::Reset() noexcept {
  shared_ = nullptr;
  return Init();
}

ThreadSlot* SlotTable::Chunk(uint32_t c) noexcept {
  ThreadSlot* base = shared_->chunks[c].load(std::memory_order_acquire);
  if (base != nullptr) return base;
  // Never freed (a region allocation cannot be): a thread that loses the race
  // to install its chunk keeps it as garbage, which happens at most once per
  // chunk index.
  void* mem = SharedAllocate(sizeof(ThreadSlot) * kChunkSlots);
  if (mem == nullptr) return nullptr;
  ThreadSlot* fresh = static_cast<ThreadSlot*>(mem);
  for (uint32_t k = 0; k < kChunkSlots; ++k) {
    new (&fresh[k]) ThreadSlot();
    fresh[k].index = c * kChunkSlots + k;
  }
  if (shared_->chunks[c].compare_exchange_strong(base, fresh, std::memory_order_acq_rel)) return fresh;
  return base;
}

ThreadSlot* SlotTable::Acquire() noexcept {
  if (shared_ == nullptr) return nullptr;
  for (uint32_t waited_us = 0;; waited_us += 50) {
    if (ThreadSlot* s = TryAcquire()) return s;
    if (shared_->retiring.load(std::memory_order_relaxed) == 0 || waited_us >= 200000 ||
        !shared_->consumer_active.load(std::memory_order_acquire)) {
      return nullptr;
    }
    if (waited_us == 0) shared_->counters.ring_stalls.fetch_add(1, std::memory_order_relaxed);
    int saved_errno = errno;
    timespec ts{0, 50000};
    syscall(SYS_nanosleep, &ts, nullptr);  // not a cancellation point (see WaitForSpaceLoop)
    errno = saved_errno;
  }
}

ThreadSlot* SlotTable::TryAcquire() noexcept {
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
      s->events = static_cast<Event*>(SharedAllocate(sizeof(Event) * kRingCapacity));
      if (s->events == nullptr) {
        s->state.store(kSlotFree, std::memory_order_release);
        return nullptr;
      }
    }
    if (uint32_t back = s->decommitted_bytes.exchange(0, std::memory_order_relaxed)) SharedRecommitted(s->events, back);
    if (s->decommitted_memo != 0) {
      SharedRecommitted(s->memo_storage, s->decommitted_memo);
      s->decommitted_memo = 0;
    }
    s->memo = nullptr;  // a new thread, a new stack: attached again after a few walks
    s->cached_head = s->head.load(std::memory_order_acquire);
    s->busy_since.store(kIdle, std::memory_order_relaxed);
    uint32_t hw = shared_->high_water.load(std::memory_order_relaxed);
    while (hw < i + 1 && !shared_->high_water.compare_exchange_weak(hw, i + 1, std::memory_order_acq_rel)) {
    }
    return s;
  }
  return nullptr;
}

void SlotTable::AttachMemo(ThreadSlot* s) noexcept {
  if (s->memo_storage == nullptr) {
    // Optional: without it every stack is walked.
    if (void* mem = SharedAllocate(sizeof(StackMemo))) s->memo_storage = new (mem) StackMemo();
  }
  if (s->memo_storage == nullptr) return;
  s->memo_storage->Clear();
  s->memo = s->memo_storage;
}

void SlotTable::Decommit(ThreadSlot* s) noexcept {
  if (s->decommitted_bytes.load(std::memory_order_relaxed) != 0 || s->events == nullptr) return;
  uint32_t bytes = 0;
  if (SharedDecommit(s->events, sizeof(Event) * kRingCapacity)) bytes += sizeof(Event) * kRingCapacity;
  s->decommitted_memo = 0;
  // The memo is cleared by its next owner anyway; its pages may go.
  size_t memo_bytes = (sizeof(StackMemo) + 4095) & ~size_t{4095};
  if (s->memo_storage != nullptr && SharedDecommit(s->memo_storage, memo_bytes)) {
    s->decommitted_memo = static_cast<uint32_t>(memo_bytes);
  }
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
  for (uint32_t round = 0;; ++round) {
    s->cached_head = s->head.load(std::memory_order_acquire);
    if (tail - s->cached_head < kRingCapacity) return true;
    bool alive = shared_->consumer_active.load(std::memory_order_acquire);
    // Every ~5 ms of waiting: is the consumer still there at all?
    if (alive && consumer_alive_ != nullptr && round % 256 == 255) alive = consumer_alive_();
    if (!alive) {
      shared_->counters.dropped_events.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (!stalled) {
      stalled = true;
      shared_->counters.ring_stalls.fetch_add(1, std::memory_order_relaxed);
    }
    // The watcher drains every published event, so the ring empties while we
    // wait (see merger.cc). A raw system call: glibc's nanosleep is a
    // cancellation point, and a hook must never be one (pthread_cancel would
    // unwind through a noexcept frame and terminate the program).
    timespec ts{0, 20000};
    syscall(SYS_nanosleep, &ts, nullptr);
  }
}

}  // namespace memtrace
