// `memtrace diff A.json B.json`: what grew between two reports. Sites are
// matched by what a person reads (report_doc.h, SiteKey): memory space,
// device and symbolized frames (function, file:line, module; module+offset
// where there is no file), so two reports of the same program match even
// across runs, and a report compared with itself shows no change. The
// remainders of sites beyond the listing bound are compared per space.
#pragma once

#include <string>
#include <vector>

#include "src/report/report_doc.h"

namespace memtrace {

struct SiteDiff {
  const DocSite* before = nullptr;  // null: appeared
  const DocSite* after = nullptr;   // null: disappeared
  int64_t growth_bytes = 0;
  int64_t growth_blocks = 0;
};

// Every site whose live bytes or blocks changed, by growth, largest first.
std::vector<SiteDiff> DiffReports(const ReportDoc& a, const ReportDoc& b);
std::string RenderDiffText(const ReportDoc& a, const ReportDoc& b, const std::vector<SiteDiff>& diffs, int top);
std::string RenderDiffJson(const ReportDoc& a, const ReportDoc& b, const std::vector<SiteDiff>& diffs);
// A gzipped pprof profile of B minus A: what `go tool pprof -diff_base A B`
// shows (A's samples negated and labelled pprof::base=true).
std::string RenderDiffPprof(const ReportDoc& a, const ReportDoc& b);

}  // namespace memtrace
