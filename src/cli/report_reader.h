// Reads a saved JSON report (schema memtrace/2) from a file into a
// ReportDoc, so the CLI renders and compares exactly what the tracer wrote.
// The file is untrusted: at most `max_bytes` are read, a file that does not
// start like a JSON object is refused after its first block (so /dev/zero or
// a binary is answered at once), and the parser (render.h, ParseJsonReport)
// names the first field that does not match the schema.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "src/report/report_doc.h"

namespace memtrace {

inline constexpr uint64_t kDefaultMaxReportBytes = uint64_t{1} << 30;  // 1 GiB

// Errors are one line, prefixed with the (printable) path.
absl::StatusOr<ReportDoc> ReadJsonReport(const std::string& path, uint64_t max_bytes = kDefaultMaxReportBytes);

}  // namespace memtrace
