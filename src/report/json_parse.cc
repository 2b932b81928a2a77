// The JSON report read back: the schema's reader instantiated for a whole
// document (report_schema.h). In a library of its own (memtrace_report_read):
// the preload writes reports and never reads them.
#include "absl/strings/str_cat.h"
#include "src/report/json_reader.h"
#include "src/report/render.h"

namespace memtrace {

absl::StatusOr<ReportDoc> ParseJsonReport(std::string_view bytes) {
  json::Cursor c(bytes);
  char first = c.Peek();
  if (first != '{') {
    if (first == '\0' && c.AtEnd()) return absl::InvalidArgumentError("empty: not a JSON report");
    unsigned char b = static_cast<unsigned char>(bytes[c.pos()]);
    return absl::InvalidArgumentError(
        b >= 0x21 && b < 0x7f ? absl::StrCat("not a JSON report (it starts with '", std::string(1, static_cast<char>(b)), "')")
                              : absl::StrCat("not a JSON report (it starts with byte 0x", absl::Hex(b, absl::kZeroPad2), ")"));
  }
  schema::ReadState state(bytes);
  ReportDoc doc;
  schema::JsonReader root(&state, c.pos(), 1);
  if (!state.failed()) schema::DescribeReport(root, doc);
  if (!state.failed()) {
    json::Cursor tail(bytes, root.end());
    if (!tail.AtEnd()) state.Fail(absl::StrCat("unexpected bytes after the report, at byte ", tail.pos()));
  }
  if (state.failed()) return absl::InvalidArgumentError(state.error);
  return doc;
}

}  // namespace memtrace
