// Snapshot -> document: symbolization and the per-site view (see report_doc.h).
#include "src/report/report_doc.h"

namespace memtrace {

ReportDoc BuildReportDoc(const Snapshot& s, Symbolizer& symbolizer) {
  ReportDoc d;
  d.pid = s.pid;
  d.reason = s.reason;
  d.sequence = s.sequence;
  d.time_unix_ms = s.time_unix_ms;
  d.rss_bytes = s.rss_bytes;
  d.totals = s.totals;
  d.tracer = s.tracer;
  d.timeline = s.timeline;
  d.sites.reserve(s.sites.size());
  for (const SiteEntry& e : s.sites) {
    DocSite site;
    site.stats = e.stats;
    site.space = SpaceName(e.space);
    site.stack_id = e.stack != nullptr ? static_cast<int64_t>(e.stack->id) : -1;
    site.growth_bytes = e.growth_bytes;
    site.growth_blocks = e.growth_blocks;
    site.files = e.files;
    site.frames = SymbolizeStack(e.stack, symbolizer);
    d.sites.push_back(std::move(site));
  }
  d.modules = symbolizer.modules();
  return d;
}

}  // namespace memtrace
