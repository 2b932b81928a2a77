// Reporters: a snapshot in, a document out. The text report is what a person
// reads first; the JSON report (schema "memtrace/1", docs/report-format.md)
// is for tools. Neither touches the flusher's tables.
#ifndef MEMTRACE_SRC_REPORT_REPORT_H_
#define MEMTRACE_SRC_REPORT_REPORT_H_

#include <string>

#include "src/report/snapshot.h"
#include "src/report/symbolizer.h"

namespace memtrace {

struct ReportOptions {
  int top = 10;  // sites in the text report; 0 = all
};

std::string FormatTextReport(const Snapshot& snapshot, Symbolizer& symbolizer, const ReportOptions& options);
std::string FormatJsonReport(const Snapshot& snapshot, Symbolizer& symbolizer);

// "12.3 MiB", "512 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace memtrace

#endif  // MEMTRACE_SRC_REPORT_REPORT_H_
