// The ordered drain (see merger.h for the argument).
#include "src/flush/merger.h"

#include <algorithm>
#include <atomic>
#include <queue>
#include <utility>

#include "src/capture/clock.h"

namespace memtrace {

uint64_t Merger::Watermark(uint32_t* high_water) const {
  uint64_t w = ClockNowFenced();
  *high_water = slots_->high_water();
  for (uint32_t i = 0; i < *high_water; ++i) {
    w = std::min(w, slots_->slot(i)->busy_since.load(std::memory_order_seq_cst));
  }
  return w;
}

void Merger::Collect(uint32_t high_water) {
  if (staged_.size() < high_water) staged_.resize(high_water);
  for (uint32_t i = 0; i < high_water; ++i) {
    ThreadSlot* s = slots_->slot(i);
    // State before tail: a retiring owner published everything before it
    // stored kSlotRetiring (release), so the tail read below is complete.
    uint32_t state = s->state.load(std::memory_order_acquire);
    uint64_t head = s->head.load(std::memory_order_relaxed);
    uint64_t tail = s->tail.load(std::memory_order_acquire);
    if (tail != head) {
      Staged& st = staged_[i];
      for (uint64_t k = head; k < tail; ++k) st.events.push_back(s->events[k & (kRingCapacity - 1)]);
      s->head.store(tail, std::memory_order_release);
    }
    if (state == kSlotRetiring) s->state.store(kSlotFree, std::memory_order_release);
  }
}

size_t Merger::Round(EventSink& sink, bool deliver_all) {
  uint32_t hw = 0;
  uint64_t w = UINT64_MAX;
  if (deliver_all) hw = slots_->high_water();
  else w = Watermark(&hw);
  last_watermark_ = w;
  Collect(hw);

  using Head = std::pair<uint64_t, uint32_t>;  // (timestamp, slot)
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heap;
  for (uint32_t i = 0; i < staged_.size(); ++i) {
    const Staged& st = staged_[i];
    if (st.next < st.events.size() && (deliver_all || st.events[st.next].ts < w)) {
      heap.emplace(st.events[st.next].ts, i);
    }
  }
  size_t delivered = 0;
  while (!heap.empty()) {
    uint32_t i = heap.top().second;
    heap.pop();
    Staged& st = staged_[i];
    sink.OnEvent(i, st.events[st.next]);
    ++st.next;
    ++delivered;
    if (st.next < st.events.size() && (deliver_all || st.events[st.next].ts < w)) {
      heap.emplace(st.events[st.next].ts, i);
    }
  }
  for (Staged& st : staged_) {
    if (st.next == st.events.size()) {
      st.events.clear();
      st.next = 0;
      if (st.events.capacity() > (1u << 16)) st.events.shrink_to_fit();
    } else if (st.next > 0 && st.next * 2 >= st.events.size()) {
      st.events.erase(st.events.begin(), st.events.begin() + static_cast<std::ptrdiff_t>(st.next));
      st.next = 0;
    }
  }
  return delivered;
}

size_t Merger::staged() const {
  size_t n = 0;
  for (const Staged& st : staged_) n += st.events.size() - st.next;
  return n;
}

}  // namespace memtrace
