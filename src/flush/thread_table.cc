// Thread lifetimes as seen through the event stream (see thread_table.h).
#include "src/flush/thread_table.h"

namespace memtrace {

uint32_t ThreadTable::OnStart(uint32_t slot, uint64_t tid, uint64_t ts) {
  if (slot >= by_slot_.size()) by_slot_.resize(slot + 1, 0);
  ThreadRecord r;
  r.tid = tid;
  r.start_ts = ts;
  threads_.push_back(r);
  by_slot_[slot] = static_cast<uint32_t>(threads_.size() - 1);
  return by_slot_[slot];
}

void ThreadTable::OnExit(uint32_t slot, uint64_t ts) {
  uint32_t t = ThreadOfSlot(slot);
  if (t == 0) return;
  threads_[t].exited = true;
  threads_[t].exit_ts = ts;
  by_slot_[slot] = 0;
}

}  // namespace memtrace
