// The ordered drain (see merger.h for the argument).
#include "src/flush/merger.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "src/capture/busy_fence.h"
#include "src/capture/clock.h"

namespace memtrace {

uint64_t Merger::Watermark(uint32_t* high_water) const {
  uint64_t w = ClockNowFenced();
  if (!BusyFenceHeavy()) {
    *high_water = slots_->high_water();
    return computed_watermark_;  // a watermark stays valid; this round's stamps would not be
  }
  *high_water = slots_->high_water();
  for (uint32_t i = 0; i < *high_water; ++i) {
    w = std::min(w, slots_->slot(i)->busy_since.load(std::memory_order_seq_cst));
  }
  return w;
}

size_t Merger::Collect(uint32_t high_water) {
  size_t collected = 0;
  if (staged_.size() < high_water) staged_.resize(high_water);
  uint32_t warm_free = 0;  // free slots so far whose pages are resident
  for (uint32_t i = 0; i < high_water; ++i) {
    ThreadSlot* s = slots_->slot(i);
    // State before tail: a retiring owner published everything before it
    // stored kSlotRetiring (release), so the tail read below is complete.
    uint32_t state = s->state.load(std::memory_order_acquire);
    if (state == kSlotFree && s->decommitted_bytes.load(std::memory_order_relaxed) == 0) ++warm_free;
    uint64_t head = s->head.load(std::memory_order_relaxed);
    uint64_t tail = s->tail.load(std::memory_order_acquire);
    if (tail != head) {
      Staged& st = staged_[i];
      // One resize, then a plain copy (no capacity check per event).
      const size_t old = st.events.size();
      st.events.resize(old + (tail - head));
      Event* out = st.events.data() + old;
      for (uint64_t k = head; k < tail; ++k) *out++ = s->events[k & (kRingCapacity - 1)];
      s->head.store(tail, std::memory_order_release);
      collected += tail - head;
    }
    if (state == kSlotRetiring) {
      // The lowest free slots are reused first; past the few kept warm, an
      // exited thread's ring and memo go back to the kernel. Only now: once
      // the slot is free, a new thread may take it and write its ring.
      if (warm_free >= kWarmFreeSlots) slots_->Decommit(s);
      else ++warm_free;
      s->state.store(kSlotFree, std::memory_order_release);
      slots_->Freed();
    }
  }
  // "Below it" above is per pass: slots freed in earlier passes while lower
  // ones were still in use stay warm, and a burst of short threads that
  // outran the watcher (a starved watcher on a busy machine) could leave
  // hundreds so. Past the few kept warm, the highest ones go back too; each
  // is claimed first (free -> retiring: no thread acquires it meanwhile).
  for (uint32_t i = high_water; warm_free > kWarmFreeSlots && i-- > 0;) {
    ThreadSlot* s = slots_->slot(i);
    if (s->events == nullptr || s->decommitted_bytes.load(std::memory_order_relaxed) != 0) continue;
    uint32_t expected = kSlotFree;
    if (!s->state.compare_exchange_strong(expected, kSlotRetiring, std::memory_order_acq_rel)) continue;
    slots_->Decommit(s);
    s->state.store(kSlotFree, std::memory_order_release);
    --warm_free;
  }
  return collected;
}

size_t Merger::Round(EventSink& sink, bool deliver_all, bool fresh_watermark) {
  uint32_t hw = 0;
  uint64_t w = UINT64_MAX;
  if (deliver_all) {
    hw = slots_->high_water();
  } else {
    // A new watermark costs a membarrier in the light-stamp mode
    // (busy_fence.h), so periodic rounds take one at most every
    // kWatermarkPeriodNs; in between they keep the last one (still valid) and
    // only move events out of the rings.
    uint64_t now = MonotonicNanos();
    bool light = g_light_busy_stamp.load(std::memory_order_relaxed);
    if (fresh_watermark || !light || now - last_watermark_ns_ >= kWatermarkPeriodNs) {
      w = computed_watermark_ = Watermark(&hw);
      last_watermark_ns_ = now;
    } else {
      hw = slots_->high_water();
      w = computed_watermark_;
    }
  }
  last_watermark_ = w;
  size_t collected = Collect(hw);

  // A binary min-heap of each queue's next deliverable event, by (timestamp,
  // slot). The top queue delivers a run -- its events that sort before
  // every other queue's next one (threads rarely interleave finely) -- in
  // one call, then its new head replaces the top and sinks: one sift per run.
  using Head = std::pair<uint64_t, uint32_t>;  // (timestamp, slot)
  std::vector<Head>& heap = heap_;
  heap.clear();
  for (uint32_t i = 0; i < staged_.size(); ++i) {
    const Staged& st = staged_[i];
    if (st.next < st.events.size() && (deliver_all || st.events[st.next].ts < w)) {
      heap.emplace_back(st.events[st.next].ts, i);
    }
  }
  std::make_heap(heap.begin(), heap.end(), std::greater<Head>());
  auto sift_down = [&heap](size_t k) {
    const size_t n = heap.size();
    Head v = heap[k];
    for (;;) {
      size_t c = 2 * k + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1] < heap[c]) ++c;
      if (!(heap[c] < v)) break;
      heap[k] = heap[c];
      k = c;
    }
    heap[k] = v;
  };
  const uint64_t limit = deliver_all ? UINT64_MAX : w;  // deliverable: ts < limit
  size_t delivered = 0;
  while (!heap.empty()) {
    const uint32_t i = heap[0].second;
    Staged& st = staged_[i];
    // The run ends before the first event that is not below `bound`: the
    // watermark, or the best other queue's head (ties go to the lower slot).
    uint64_t bound = limit;
    if (heap.size() > 1) {
      const Head& rival = heap.size() > 2 && heap[2] < heap[1] ? heap[2] : heap[1];
      const uint64_t rival_bound = rival.second > i ? rival.first + 1 : rival.first;  // ts < bound <=> (ts, i) < rival
      bound = std::min(bound, rival.first == UINT64_MAX ? rival.first : rival_bound);
    }
    size_t end = st.next + 1;
    while (end < st.events.size() && st.events[end].ts < bound) ++end;
    sink.OnEvents(i, &st.events[st.next], end - st.next);
    delivered += end - st.next;
    st.next = end;
    if (st.next < st.events.size() && st.events[st.next].ts < limit) {
      heap[0].first = st.events[st.next].ts;
    } else {
      heap[0] = heap.back();
      heap.pop_back();
    }
    if (!heap.empty()) sift_down(0);
  }
  for (uint32_t i = 0; i < staged_.size(); ++i) {
    Staged& st = staged_[i];
    if (st.next == st.events.size()) {
      st.events.clear();
      st.next = 0;
      // An empty queue keeps its storage for the slot's next round, unless it
      // is large, or its thread has exited: then at most a ring's worth is
      // kept if the slot stays warm, and nothing if it was freed cold.
      const ThreadSlot* s = slots_->slot(i);
      size_t keep = 1u << 16;
      if (s->decommitted_bytes.load(std::memory_order_relaxed) != 0) {
        keep = 0;
      } else if (s->state.load(std::memory_order_relaxed) == kSlotFree) {
        keep = kRingCapacity;
      }
      if (st.events.capacity() > keep) decltype(st.events)().swap(st.events);
    } else if (st.next > 0 && st.next * 2 >= st.events.size()) {
      st.events.erase(st.events.begin(), st.events.begin() + static_cast<std::ptrdiff_t>(st.next));
      st.next = 0;
    }
  }
  last_collected_ = collected;
  return delivered;
}

size_t Merger::staged() const {
  size_t n = 0;
  for (const Staged& st : staged_) n += st.events.size() - st.next;
  return n;
}

}  // namespace memtrace
