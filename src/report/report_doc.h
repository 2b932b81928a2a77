// The report as a document: a snapshot with every stack symbolized, stacks
// that read the same merged into one site, and every number a reader needs,
// independent of the live process. Every renderer (text, JSON, pprof, folded
// stacks, HTML) reads only this; the memtrace command rebuilds it from a
// saved JSON report (report_schema.h), so `memtrace report` prints what the
// tracer printed.
//
// Bounded: frames are interned once in `frames` (sites refer to them by
// index; a frame keeps its own address, and a merged site shows the frames of
// its first stack), and only the `max_sites` largest sites are listed; the others are
// folded into one remainder entry per memory space (`omitted`), so the
// listed sites plus the remainders add up to the totals exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/report/report_types.h"
#include "src/report/snapshot.h"
#include "src/report/symbolizer.h"

namespace memtrace {

inline constexpr char kReportSchema[] = "memtrace/2";

struct ThreadShare {
  uint64_t tid = 0;
  uint64_t live_bytes = 0;
};

// One site: the stacks whose symbolized frames read the same (function,
// file, line, module, inlined; module + offset where there is no file), in
// one memory space (and on one CUDA device).
struct DocSite {
  SiteStats stats;  // summed over the stacks (peak_live_bytes: the sum of their peaks, an upper bound)
  std::string space;  // SpaceName()
  int device = -1;    // CUDA device ordinal (device and managed memory), else -1
  std::string label;  // e.g. "pymalloc arena"; empty: none
  std::vector<int64_t> stack_ids;  // the interned stacks merged here (-1: no stack could be taken)
  int64_t growth_bytes = 0;        // live bytes since the previous report
  int64_t growth_blocks = 0;
  std::vector<FileShare> files;      // file mappings: bytes per file, largest first
  std::vector<ThreadShare> threads;  // who allocated the live bytes, most first (at most 16)
  std::optional<LeakKinds> leak_kinds;
  std::optional<MappingCost> cost;
  std::vector<uint32_t> frames;  // indices into ReportDoc::frames; frame 0: the code that asked for memory
};

// The sites of one memory space beyond the listing bound, added up.
struct DocOmitted {
  std::string space;
  uint64_t sites = 0;   // merged sites folded here
  uint64_t stacks = 0;  // interned stacks behind them
  SiteStats stats;
  int64_t growth_bytes = 0;
  int64_t growth_blocks = 0;
  std::optional<LeakKinds> leak_kinds;
};

struct DocThread {
  ThreadEntry entry;           // entry.creator and entry.start_routine (an address) are not used by renderers
  int64_t creator_index = -1;  // into ReportDoc::creators
  std::string start_routine;   // symbolized
  std::string openmp;          // "libgomp" / "libomp" for an OpenMP worker, else empty
};

struct DocCreator {
  uint64_t created = 0, alive = 0, exited = 0, exited_unjoined = 0;
  uint64_t live_bytes = 0, exited_live_bytes = 0;
  std::vector<uint32_t> frames;  // into ReportDoc::frames; empty: not created through pthread_create while traced
  // Live memory of this creator's exited threads, by listed site.
  struct BySite {
    int64_t site = -1;  // index into ReportDoc::sites; -1: a site beyond the listing bound
    std::string space;
    uint64_t live_bytes = 0;
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
  std::string version;  // of the memtrace that wrote the report
  int pid = 0;
  std::string reason;
  uint64_t sequence = 0;
  uint64_t time_unix_ms = 0;
  uint64_t rss_bytes = 0;
  Totals totals;
  ThreadTotals thread_totals;
  std::vector<ModuleInfo> modules;
  std::vector<Frame> frames;  // each distinct frame once
  std::vector<DocSite> sites;  // by live bytes, descending
  std::vector<DocOmitted> omitted;  // per space, sites beyond the bound
  uint64_t max_sites = 0;           // the bound that applied (0: none)
  std::vector<DocCreator> creators;
  std::vector<DocThread> threads;
  DocOpenMP openmp;
  std::vector<DeviceTotals> devices;
  CudaStatus cuda;
  std::vector<TimelinePoint> timeline;
  TracerStats tracer;
  std::optional<ProcessEnd> end;
  std::optional<std::vector<SuppressionUse>> suppressions_used;
  std::optional<LeakScanInfo> leak_scan;

  const Frame& frame(uint32_t id) const { return frames[id]; }
  // Sites listed plus those folded into the remainders.
  uint64_t site_count() const;
};

struct DocOptions {
  size_t max_sites = 10000;  // MEMTRACE_MAX_SITES; 0: list every site
};

ReportDoc BuildReportDoc(const Snapshot& snapshot, Symbolizer& symbolizer, const DocOptions& options = {});

// The key a person reads a frame by: function, file, line, module and
// whether it was inlined; module + offset when there is no source file.
// Sites and `memtrace diff` match by these.
std::string FrameKey(const Frame& frame);
// A site's identity across reports: space, device and its frames' keys.
std::string SiteKey(const ReportDoc& doc, const DocSite& site);

// The version of this memtrace (CMake's project version).
const char* MemtraceVersion();

}  // namespace memtrace
