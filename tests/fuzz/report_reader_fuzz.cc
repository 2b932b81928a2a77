// Fuzz target: the saved-report reader (ParseJsonReport, the one the memtrace
// command uses on reports from anywhere) and everything the command does
// with a report it accepted: every renderer, `memtrace diff` against itself
// and against a known report, and the JSON round trip (what was accepted,
// written back, reads back to the same bytes).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/cli/diff.h"
#include "src/report/render.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<memtrace::ReportDoc> doc = memtrace::ParseJsonReport(bytes);
  if (!doc.ok()) {
    // One line, printable (the command prints it as is).
    std::string m(doc.status().message());
    for (char c : m) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
    }
    return 0;
  }
  memtrace::ReportOptions all{0};
  memtrace::RenderTextReport(*doc, all);
  memtrace::RenderTextReport(*doc, memtrace::ReportOptions{3});
  memtrace::RenderFoldedReport(*doc);
  memtrace::RenderHtmlReport(*doc);
  memtrace::RenderPprofReport(*doc);
  std::string json = memtrace::RenderJsonReport(*doc);
  absl::StatusOr<memtrace::ReportDoc> again = memtrace::ParseJsonReport(json);
  if (!again.ok()) __builtin_trap();  // we wrote something we refuse to read
  if (memtrace::RenderJsonReport(*again) != json) __builtin_trap();  // not lossless
  // memtrace diff, both ways and with itself (all growth zero).
  static const memtrace::ReportDoc empty;
  const memtrace::ReportDoc* self = &*doc;
  for (const memtrace::ReportDoc* other : {self, &empty}) {
    std::vector<memtrace::SiteDiff> d = memtrace::DiffReports(*other, *doc);
    memtrace::RenderDiffText(*other, *doc, d, 0);
    memtrace::RenderDiffJson(*other, *doc, d);
    memtrace::RenderDiffPprof(*other, *doc);
    d = memtrace::DiffReports(*doc, *other);
    memtrace::RenderDiffText(*doc, *other, d, 5);
  }
  for (const memtrace::SiteDiff& d : memtrace::DiffReports(*doc, *doc)) {
    if (d.growth_bytes != 0 || d.growth_blocks != 0) __builtin_trap();
  }
  return 0;
}
