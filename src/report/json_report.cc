// The JSON report: the schema's writer instantiated for a whole document
// (report_schema.h, docs/report-format.md; the reader is json_parse.cc).
#include "src/report/json_writer.h"
#include "src/report/render.h"

namespace memtrace {

std::string RenderJsonReport(const ReportDoc& doc) {
  std::string out;
  schema::JsonWriter writer(&out);
  // The writer only reads: the schema takes non-const references because the
  // reader fills the same fields.
  ReportDoc& d = const_cast<ReportDoc&>(doc);
  writer.Root([&](schema::JsonWriter& w) { schema::DescribeReport(w, d); });
  return out;
}

}  // namespace memtrace
