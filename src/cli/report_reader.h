// Reads a saved JSON report (schema memtrace/1) back into a ReportDoc, so the
// CLI renders and compares exactly what the tracer wrote.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "src/report/report_doc.h"

namespace memtrace {

absl::StatusOr<ReportDoc> ParseJsonReport(const std::string& text);
absl::StatusOr<ReportDoc> ReadJsonReport(const std::string& path);

}  // namespace memtrace
