// The one-file HTML report: src/report/html/report.html (embedded at build
// time) with the report's JSON inlined. Everything the page draws (flame
// graph, timeline, tables, search) comes from that JSON, so the page and
// the JSON report can never disagree, and it needs no network.
#include <string_view>

#include "src/report/render.h"

namespace memtrace {
namespace {

// kHtmlTemplate: the page, with /*MEMTRACE_REPORT_JSON*/ where the data goes.
#include "memtrace_html_template.inc"

constexpr std::string_view kPlaceholder = "/*MEMTRACE_REPORT_JSON*/";

}  // namespace

std::string RenderHtmlReport(const ReportDoc& doc) {
  std::string json = RenderJsonReport(doc);
  // Inside <script>, "</script>" or "<!--" in a string would end or confuse
  // the element: '<' only occurs inside JSON strings, where \u003c means it.
  std::string safe;
  safe.reserve(json.size() + 64);
  for (char c : json) {
    if (c == '<') safe += "\\u003c";
    else safe += c;
  }
  std::string_view page = kHtmlTemplate;
  size_t at = page.find(kPlaceholder);
  std::string out;
  out.reserve(page.size() + safe.size());
  out.append(page.substr(0, at));
  out.append(safe);
  out.append(page.substr(at + kPlaceholder.size()));
  return out;
}

}  // namespace memtrace
