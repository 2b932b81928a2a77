// The flusher: drains the rings in order (merger) into the tables (sites,
// heap, mappings, threads), keeps the timeline, and builds snapshots. It runs
// in the watcher process (src/watcher/), on one thread, driven by the
// watcher's loop: it owns no thread, takes no lock and never calls into the
// reporters (snapshots leave through the watcher).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <functional>
#include <string>
#include <vector>

#include "src/flush/heap_table.h"
#include "src/flush/mapping_table.h"
#include "src/flush/merger.h"
#include "src/flush/proc_maps.h"
#include "src/flush/process_stats.h"
#include "src/flush/site_table.h"
#include "src/flush/thread_table.h"
#include "src/report/snapshot.h"
#include "src/scan/scan_types.h"

namespace memtrace {

class Flusher final : public EventSink {
 public:
  struct Options {
    int pid = 0;                    // the traced process
    bool all_sites = false;
    uint64_t sample_bytes = 0;      // MEMTRACE_SAMPLE_BYTES: heap live bytes are estimates
    uint64_t program_private_bytes = 0;  // the tracer's private pages in the program
    std::string clock_name, fence_name, unwinder_name;
  };

  Flusher(SlotTable* slots, Options options);
  // Which CUDA layers are active, for every report.
  void set_cuda_status(std::function<CudaStatus()> fn) { cuda_status_ = std::move(fn); }
  // The text of the traced process's /proc/PID/maps (the caller keeps the
  // last one it could read, for a process that died).
  void set_maps_text(const std::string* text) { maps_text_ = text; }
  // Memory the watcher itself holds (its heap, its own mappings), for the
  // report's tracer section.
  void set_watcher_memory(std::function<uint64_t()> fn) { watcher_memory_ = std::move(fn); }

  // One drain round: moves every published event out of the rings and
  // delivers those below the watermark. Returns events delivered plus moved.
  size_t Round();
  // Delivers every event stamped before `ts` (waits at most `wait_ms` for
  // threads still inside a hook). False if it gave up waiting.
  bool DrainUntil(uint64_t ts, int wait_ms);
  // The final drain: waits (at most `wait_ms`) until every producer is idle,
  // then delivers everything. Returns the number of slots still busy (a
  // thread inside a hook, whose event may be missing).
  uint32_t DrainFinal(int wait_ms);
  // After the traced process died: delivers everything that was published.
  // Returns the number of threads that were inside a hook when it died (at
  // most one event each was lost), and counts what was recovered.
  uint32_t DrainAfterDeath(uint64_t* recovered);
  // A snapshot of the tables as they are.
  Snapshot TakeSnapshot(const char* reason, const GlibcStats& glibc = {});
  // A timeline point (with a label for marks).
  void Sample(const std::string& mark, const GlibcStats& glibc = {});

  uint64_t events() const { return events_; }

  // The leak scan (src/scan/, driven by the watcher): the live blocks the
  // scan classifies (heap blocks and tracked anonymous mappings; site and
  // thread carry our indices), and its result, which the next snapshot
  // carries per site, in the totals and per thread (flusher_scan.cc).
  std::vector<scan::Block> LiveBlocks() const;
  void SetScanResult(std::span<const scan::Block> blocks, const scan::ScanResult& result, LeakScanInfo info);

 private:
  void OnEvent(uint32_t slot, const Event& event) override;
  void OnEvents(uint32_t slot, const Event* events, size_t n) override;
  // Every event but an allocation or a free.
  void OnOtherEvent(uint32_t slot, const Event& event);
  bool AllIdle() const;
  uint32_t BusySlots() const;
  Snapshot BuildSnapshot(const char* reason, const GlibcStats& glibc);
  TimelinePoint MakePoint(const std::string& mark, const GlibcStats& glibc);
  void AppendTimeline(TimelinePoint p);
  std::vector<ProcMapping> ProcMappings() const;
  void AttachFilePaths(Snapshot& snapshot, const std::vector<ProcMapping>& proc) const;
  // Reserved, committed and resident bytes of every mapping site (indexed
  // by site), totals per space into `t`; unset where not measured.
  std::vector<std::optional<MappingCost>> MappingCosts(Totals& t) const;
  // How much of what was mapped when tracing began is still mapped.
  void AttachPredatingMappings(Totals& t, const std::vector<ProcMapping>& proc) const;
  // Threads, creators and each listed site's threads.
  void AttachThreads(Snapshot& snapshot, const std::vector<size_t>& entry_of_site) const;

  SlotTable* slots_;
  Options options_;
  std::function<CudaStatus()> cuda_status_;
  std::function<uint64_t()> watcher_memory_;
  const std::string* maps_text_ = nullptr;
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
  // The last scan's result, attached to the next snapshot (then dropped).
  struct PendingScan {
    std::vector<LeakKinds> by_site;  // indexed by site
    LeakKinds totals;
    std::vector<std::pair<uint64_t, LeakCount>> held_by_tid;
    LeakScanInfo info;
  };
  std::optional<PendingScan> scan_;
  void AttachScan(Snapshot& snapshot, const std::vector<size_t>& entry_of_site);
};

}  // namespace memtrace
