// One entry point for every output format (see render.h).
#include "src/report/render.h"

namespace memtrace {

std::string RenderReport(const ReportDoc& doc, ReportFormat format, const ReportOptions& options) {
  switch (format) {
    case ReportFormat::kJson: return RenderJsonReport(doc);
    case ReportFormat::kPprof: return RenderPprofReport(doc);
    case ReportFormat::kFolded: return RenderFoldedReport(doc);
    case ReportFormat::kHtml: return RenderHtmlReport(doc);
    case ReportFormat::kText: break;
  }
  return RenderTextReport(doc, options);
}

}  // namespace memtrace
