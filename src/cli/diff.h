// `memtrace diff A.json B.json`: what grew between two reports. Sites are
// matched by memory space and symbolized stack (function, file:line, or
// module+offset for each frame), so two reports of the same program match
// even across runs.
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

}  // namespace memtrace
