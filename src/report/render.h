// Renderers: a ReportDoc in each output format. Each reads only the
// document, so the tracer and the memtrace command (from a saved JSON
// report) produce the same bytes.
//
//   text    what a person reads first (text_report.cc)
//   json    schema memtrace/2, lossless (report_schema.h)
//   pprof   gzipped profile.proto for go tool pprof, Pyroscope, Parca (pprof_report.cc)
//   folded  "frame;frame;frame bytes" lines for flamegraph.pl and speedscope (folded_report.cc)
//   html    one self-contained page: flame graph, timeline, tables (html_report.cc)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/config/config.h"
#include "src/report/report_doc.h"

namespace memtrace {

struct ReportOptions {
  int top = 10;  // sites in the text report; 0 = all
};

std::string RenderTextReport(const ReportDoc& doc, const ReportOptions& options);
std::string RenderJsonReport(const ReportDoc& doc);
std::string RenderPprofReport(const ReportDoc& doc);  // gzip-compressed
std::string RenderFoldedReport(const ReportDoc& doc);
std::string RenderHtmlReport(const ReportDoc& doc);
std::string RenderReport(const ReportDoc& doc, ReportFormat format, const ReportOptions& options);

// A JSON report back into a document; an error names the first field that
// does not match the schema. A pure function of the bytes (fuzzable).
absl::StatusOr<ReportDoc> ParseJsonReport(std::string_view bytes);

// "12.3 MiB", "512 B".
std::string HumanBytes(uint64_t bytes);
// `s` safe for a terminal: control characters, DEL, C1 controls and bytes
// outside valid UTF-8 become \xNN; everything else is kept.
std::string Printable(std::string_view s);
// One line for a frame: "function (file:line)" or "function (module+0x1f)",
// made printable.
std::string FrameLine(const Frame& frame);

}  // namespace memtrace
