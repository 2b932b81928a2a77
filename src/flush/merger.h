// The ordered drain: turns the per-thread rings into one stream of events in
// timestamp order, which (clock.h) is the real order of the calls at every
// address. This is what makes cross-thread frees and address reuse exact.
//
// Each round:
//  1. Watermark W = min(now, busy stamp of every slot) (busy_fence.h says how
//     a stamp is made visible before its thread reads the clock). A thread that is idle
//     now can only push events stamped after now; a busy one only events
//     stamped at or after its busy stamp. So every event stamped before W has
//     already been published. Order matters: the clock first, then the number
//     of slots in use (a thread that takes a new slot after that read stamps
//     its events later than `now`), then the busy stamps, then the rings.
//  2. Move every published event out of every ring into a per-slot staging
//     queue, freeing ring space at once: a producer never waits on the
//     watermark, only on the flusher running (no deadlock when a thread stays
//     busy, e.g. blocked on a lock inside a hook).
//  3. k-way merge of the staging queues (each already sorted: one producer,
//     monotonic clock) delivering events stamped before W.
// Slots whose thread has exited are released after their ring is emptied; a
// reused slot's events come after the old owner's in its staging queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

#include "src/capture/event.h"
#include "src/capture/os_memory.h"
#include "src/capture/thread_slots.h"

namespace memtrace {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(uint32_t slot, const Event& event) = 0;
  // A run of one ring's events, in order (one virtual call per run).
  virtual void OnEvents(uint32_t slot, const Event* events, size_t n) {
    for (size_t k = 0; k < n; ++k) OnEvent(slot, events[k]);
  }
};

class Merger {
 public:
  explicit Merger(SlotTable* slots) : slots_(slots) {}
  // One round; returns the number of events delivered. With `deliver_all` the
  // watermark is ignored: only for the final drain, once producers are
  // quiescent. `fresh_watermark`: compute a new watermark now, even within
  // kWatermarkPeriodNs of the last one (a snapshot needs it).
  size_t Round(EventSink& sink, bool deliver_all = false, bool fresh_watermark = false);
  // Events taken from rings but not yet delivered.
  size_t staged() const;
  // The watermark of the last round: every event stamped before it has been
  // delivered.
  uint64_t last_watermark() const { return last_watermark_; }
  // Events the last round moved out of the rings.
  size_t last_collected() const { return last_collected_; }

 private:
  // Large staging queues come straight from the kernel (os_memory.h) and go
  // back to it when released: from malloc, the freed queues of a burst of
  // exited threads would stay in the flusher's arena. Small ones (and any
  // the kernel refuses to map) come from malloc, so a program near its
  // mapping limit is not pushed over it. A 16-byte header says which. Growing
  // a queue leaves the new events uninitialised: Collect overwrites them at
  // once (a value-initialising resize would clear them first).
  template <typename T>
  struct StagingAllocator {
    using value_type = T;
    static constexpr size_t kHeader = 16;
    static constexpr size_t kMapFrom = 64 << 10;
    StagingAllocator() = default;
    template <typename U>
    StagingAllocator(const StagingAllocator<U>&) noexcept {}
    T* allocate(size_t n) {
      size_t bytes = n * sizeof(T) + kHeader;
      size_t mapped = (bytes + 4095) & ~size_t{4095};
      void* p = bytes >= kMapFrom ? OsAllocate(mapped) : nullptr;
      if (p == nullptr) {
        mapped = 0;
        p = malloc(bytes);
        if (p == nullptr) throw std::bad_alloc();
      }
      *static_cast<size_t*>(p) = mapped;
      return reinterpret_cast<T*>(static_cast<char*>(p) + kHeader);
    }
    void deallocate(T* q, size_t) noexcept {
      void* p = reinterpret_cast<char*>(q) - kHeader;
      if (size_t mapped = *static_cast<size_t*>(p)) OsFree(p, mapped);
      else free(p);
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
      if constexpr (sizeof...(Args) == 0) {
        ::new (static_cast<void*>(p)) U;
      } else {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
      }
    }
    template <typename U>
    bool operator==(const StagingAllocator<U>&) const noexcept {
      return true;
    }
  };
  struct Staged {
    std::vector<Event, StagingAllocator<Event>> events;
    size_t next = 0;
  };
  // Reads the clock, then the slot high-water mark (stored in *high_water),
  // then every busy stamp.
  uint64_t Watermark(uint32_t* high_water) const;
  size_t Collect(uint32_t high_water);

  static constexpr uint64_t kWatermarkPeriodNs = 1000000;

  SlotTable* slots_;
  std::vector<Staged> staged_;
  std::vector<std::pair<uint64_t, uint32_t>> heap_;  // Round's merge heap, kept to reuse its storage
  uint64_t last_watermark_ = 0;
  uint64_t computed_watermark_ = 0;  // the last one Watermark() computed (never "deliver all")
  uint64_t last_watermark_ns_ = 0;
  size_t last_collected_ = 0;
};

}  // namespace memtrace
