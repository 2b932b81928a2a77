// The report as a document: a snapshot with every stack symbolized and every
// number a reader needs, independent of the live process. Renderers (text,
// JSON) read only this; the memtrace CLI rebuilds it from a saved JSON report
// (src/cli/), so `memtrace report` and `memtrace diff` print what the tracer
// would have printed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/report/snapshot.h"
#include "src/report/symbolizer.h"

namespace memtrace {

struct DocSite {
  SiteStats stats;
  std::string space;  // SpaceName()
  int64_t stack_id = -1;
  int64_t growth_bytes = 0;   // live bytes since the previous report
  int64_t growth_blocks = 0;
  std::vector<FileShare> files;
  std::vector<std::pair<uint64_t, uint64_t>> threads;  // (tid, live bytes), most first
  int device = -1;            // CUDA device ordinal (device and managed memory)
  std::vector<Frame> frames;  // frame 0: the code that asked for memory
};

struct DocThread {
  ThreadEntry entry;  // entry.creator is not used by renderers
  int64_t creator_index = -1;  // into ReportDoc::creators
  std::string start_routine;  // symbolized
  std::string openmp;         // "libgomp" / "libomp" for an OpenMP worker, else empty
};

struct DocCreator {
  CreatorEntry stats;  // stats.creator / exited_by_site stacks are not used by renderers
  std::vector<Frame> frames;  // empty: not created through pthread_create while traced
  struct BySite {
    int64_t stack_id;
    std::string space;
    uint64_t live_bytes;
  };
  std::vector<BySite> exited_by_site;
};

// OpenMP worker pools: workers grouped under the host thread that created
// them (libgomp keeps one pool per host thread).
struct DocOpenMP {
  struct Pool {
    uint64_t host_tid = 0;
    std::string host_state;
    uint64_t host_live_bytes = 0;
    uint64_t workers = 0, workers_alive = 0, worker_live_bytes = 0;
    std::string runtime;
  };
  std::vector<Pool> pools;
  uint64_t hosts_exited = 0, workers = 0, workers_alive = 0, worker_live_bytes = 0, team_live_bytes = 0;
};

struct ReportDoc {
  std::string schema = "memtrace/1";
  int pid = 0;
  std::string reason;
  uint64_t sequence = 0;
  uint64_t time_unix_ms = 0;
  uint64_t rss_bytes = 0;
  Totals totals;
  std::vector<DocSite> sites;
  std::vector<ModuleInfo> modules;
  TracerStats tracer;
  std::vector<TimelinePoint> timeline;
  std::vector<DocThread> threads;
  std::vector<DocCreator> creators;
  ThreadTotals thread_totals;
  DocOpenMP openmp;
  std::vector<DeviceTotals> devices;
  CudaStatus cuda;
  EndInfo end;  // final reports: how the process ended
};

ReportDoc BuildReportDoc(const Snapshot& snapshot, Symbolizer& symbolizer);

struct ReportOptions {
  int top = 10;  // sites in the text report; 0 = all
};

std::string RenderTextReport(const ReportDoc& doc, const ReportOptions& options);
std::string RenderJsonReport(const ReportDoc& doc);

// "12.3 MiB", "512 B".
std::string HumanBytes(uint64_t bytes);
// One line for a frame: "function (file:line)" or "function (module+0x1f)".
std::string FrameLine(const Frame& frame);

}  // namespace memtrace
