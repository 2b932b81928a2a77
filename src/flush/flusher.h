// The flusher: one background thread that drains the rings in order (merger)
// into the tables (heap, threads), and produces snapshots. Tables are guarded
// by one mutex that only the flusher, snapshot takers and fork handlers take;
// hooks never do.
#ifndef MEMTRACE_SRC_FLUSH_FLUSHER_H_
#define MEMTRACE_SRC_FLUSH_FLUSHER_H_

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <string>

#include "src/flush/heap_table.h"
#include "src/flush/mapping_table.h"
#include "src/flush/site_table.h"
#include "src/flush/merger.h"
#include "src/flush/proc_maps.h"
#include "src/flush/thread_table.h"
#include "src/report/snapshot.h"

namespace memtrace {

class Flusher final : public EventSink {
 public:
  explicit Flusher(SlotTable* slots);

  // Starts the background thread (signals blocked, named "memtrace-flush").
  bool Start();
  // Stops and joins it; the rings stay consistent for a final drain.
  void Stop();
  // Final drain, once capture is off: drains until every producer is idle
  // (at most `wait_ms`), then delivers everything left.
  void DrainFinal(int wait_ms);
  // Sites with live bytes, or every site that ever allocated (`all_sites`),
  // as of the last delivered event.
  Snapshot TakeSnapshot(const char* reason, bool all_sites);
  // A snapshot that includes every event stamped before the call (waits, at
  // most `wait_ms`, for threads that are inside a hook to leave it).
  Snapshot SnapshotNow(const char* reason, bool all_sites, int wait_ms);

  // pthread_atfork handlers.
  void PrepareFork();
  void ParentAfterFork();
  void ChildAfterFork();

  void set_backends(std::string clock, std::string unwinder) {
    clock_name_ = std::move(clock);
    unwinder_name_ = std::move(unwinder);
  }

 private:
  static void* ThreadMain(void* self);
  void Run();
  void OnEvent(uint32_t slot, const Event& event) override;
  bool AllIdle() const;
  Snapshot BuildSnapshotLocked(const char* reason, bool all_sites);
  // Names the files behind the live file mappings of the snapshot's sites.
  void AttachFilePaths(Snapshot& snapshot, const std::vector<ProcMapping>& proc) const;

  SlotTable* slots_;
  std::mutex mu_;
  Merger merger_;
  SiteTable sites_;
  HeapTable heap_;
  MappingTable maps_;
  ThreadTable threads_;
  uint64_t events_ = 0;
  std::atomic<bool> stop_{false};
  bool running_ = false;
  pthread_t thread_{};
  std::string clock_name_, unwinder_name_;
};

}  // namespace memtrace

#endif  // MEMTRACE_SRC_FLUSH_FLUSHER_H_
