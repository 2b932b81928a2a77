// The threads the flusher has seen: one record per thread lifetime, created
// by the thread's first event and closed by its exit event. Thread index 0 is
// reserved for events that arrive on a slot with no known owner.
#ifndef MEMTRACE_SRC_FLUSH_THREAD_TABLE_H_
#define MEMTRACE_SRC_FLUSH_THREAD_TABLE_H_

#include <cstdint>
#include <vector>

namespace memtrace {

struct ThreadRecord {
  uint64_t tid = 0;
  uint64_t start_ts = 0;
  uint64_t exit_ts = 0;
  bool exited = false;
};

class ThreadTable {
 public:
  ThreadTable() { threads_.emplace_back(); }
  uint32_t OnStart(uint32_t slot, uint64_t tid, uint64_t ts);
  void OnExit(uint32_t slot, uint64_t ts);
  // The thread currently owning `slot` (0 if unknown).
  uint32_t ThreadOfSlot(uint32_t slot) const { return slot < by_slot_.size() ? by_slot_[slot] : 0; }
  const std::vector<ThreadRecord>& threads() const { return threads_; }

 private:
  std::vector<ThreadRecord> threads_;
  std::vector<uint32_t> by_slot_;
};

}  // namespace memtrace

#endif  // MEMTRACE_SRC_FLUSH_THREAD_TABLE_H_
