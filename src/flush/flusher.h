// The flusher: one background thread that drains the rings in order (merger)
// into the tables (sites, heap, mappings, threads), samples the timeline, and
// produces snapshots when asked: by a signal (RequestFromSignal, async-signal
// safe), on an interval, by the program (SnapshotNow, Mark), or at exit.
// Snapshots leave through a sink installed by the runtime, so the flusher
// never calls into the reporters. Tables are guarded by one mutex that only
// the flusher, snapshot takers and fork handlers take; hooks never do.
#pragma once

#include <pthread.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "src/flush/heap_table.h"
#include "src/flush/mapping_table.h"
#include "src/flush/merger.h"
#include "src/flush/proc_maps.h"
#include "src/flush/site_table.h"
#include "src/flush/thread_table.h"
#include "src/report/snapshot.h"

namespace memtrace {

class Flusher final : public EventSink {
 public:
  struct Options {
    bool all_sites = false;
    uint64_t interval_ns = 0;       // 0: no interval snapshots
    uint64_t sample_period_ns = 0;  // 0: no timeline samples
    uint64_t sample_bytes = 0;      // MEMTRACE_SAMPLE_BYTES: heap live bytes are estimates
    std::string clock_name, fence_name, unwinder_name;
  };
  // Receives every snapshot the flusher itself decides to take (signal,
  // interval, control request), on the flusher thread. `path`: where the
  // requester wants it (empty: the configured output).
  using Sink = std::function<void(Snapshot& snapshot, const std::string& path)>;
  // Called on the flusher thread about every 100 ms (control file, signal
  // handler checks).
  using PollHook = std::function<void(Flusher& flusher)>;

  Flusher(SlotTable* slots, Options options);
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  void set_poll_hook(PollHook hook) { poll_hook_ = std::move(hook); }
  // Which CUDA layers are active, for every report.
  void set_cuda_status(std::function<CudaStatus()> fn) { cuda_status_ = std::move(fn); }

  // Starts the background thread (signals blocked, named "memtrace-flush").
  bool Start();
  // Stops and joins it; the rings stay consistent for a final drain.
  void Stop();
  // Final drain, once capture is off: drains until every producer is idle
  // (at most `wait_ms`), then delivers everything left.
  void DrainFinal(int wait_ms);
  // A snapshot of the tables as they are (after DrainFinal: the final one).
  Snapshot TakeSnapshot(const char* reason);
  // A snapshot that includes every event stamped before the call.
  Snapshot SnapshotNow(const char* reason, int wait_ms);
  // A timeline point with a label, including every event before the call.
  void Mark(const std::string& label);

  // Async-signal-safe: asks the flusher thread for a report (reason "signal").
  // Bursts coalesce into one report.
  void RequestFromSignal();
  // From the flusher thread (poll hook): a report now, to `path` if given.
  void DumpOnFlusherThread(const char* reason, const std::string& path);

  // pthread_atfork handlers.
  void PrepareFork();
  void ParentAfterFork();
  void ChildAfterFork();

 private:
  static void* ThreadMain(void* self);
  void Run();
  void WaitForWork(uint64_t timeout_ns);
  void OnEvent(uint32_t slot, const Event& event) override;
  void OnEvents(uint32_t slot, const Event* events, size_t n) override;
  // Every event but an allocation or a free.
  void OnOtherEvent(uint32_t slot, const Event& event);
  bool AllIdle() const;
  void DrainUntil(uint64_t ts, int wait_ms);
  Snapshot BuildSnapshotLocked(const char* reason);
  TimelinePoint SampleLocked(const std::string& mark);
  void AppendTimelineLocked(TimelinePoint p);
  void AttachFilePaths(Snapshot& snapshot, const std::vector<ProcMapping>& proc) const;
  // Threads, creators and each listed site's threads.
  void AttachThreads(Snapshot& snapshot, const std::vector<size_t>& entry_of_site) const;

  SlotTable* slots_;
  Options options_;
  Sink sink_;
  PollHook poll_hook_;
  std::function<CudaStatus()> cuda_status_;
  std::mutex mu_;
  Merger merger_;
  SiteTable sites_;
  ThreadTable threads_;
  HeapTable heap_;
  HeapTable cuda_;  // CUDA allocations (device, pinned host, managed)
  MappingTable maps_;
  uint64_t events_ = 0;
  uint64_t sequence_ = 0;
  std::vector<SiteStats> reported_;  // per site, as of the previous report (growth)
  std::deque<TimelinePoint> timeline_;
  uint64_t start_ns_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> signal_request_{false};
  int wake_fd_ = -1;  // eventfd: the signal handler wakes the flusher through it
  bool running_ = false;
  pthread_t thread_{};
};

}  // namespace memtrace
