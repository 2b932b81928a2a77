// The report as a document: a snapshot with every stack symbolized and every
// number a reader needs, independent of the live process. Renderers (text,
// JSON) read only this; the memtrace CLI rebuilds it from a saved JSON report
// (src/cli/), so `memtrace report` and `memtrace diff` print what the tracer
// would have printed.
#ifndef MEMTRACE_SRC_REPORT_REPORT_DOC_H_
#define MEMTRACE_SRC_REPORT_REPORT_DOC_H_

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
  std::vector<Frame> frames;  // frame 0: the code that asked for memory
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

#endif  // MEMTRACE_SRC_REPORT_REPORT_DOC_H_
