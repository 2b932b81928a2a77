// The text report: totals first, then the top sites with their stacks, then
// the tracer's own cost. Meant to be read by a person in a terminal.
#include <fmt/format.h>

#include <algorithm>

#include "src/report/report.h"

namespace memtrace {

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

namespace {

std::string FrameLine(const Frame& f) {
  std::string where;
  if (!f.file.empty()) {
    where = f.line > 0 ? fmt::format("{}:{}", f.file, f.line) : f.file;
  } else {
    size_t slash = f.module.rfind('/');
    where = fmt::format("{}+{:#x}", slash == std::string::npos ? f.module : f.module.substr(slash + 1), f.offset);
  }
  return fmt::format("{}{} ({})", f.inlined ? "[inlined] " : "", f.function.empty() ? "??" : f.function, where);
}

}  // namespace

std::string FormatTextReport(const Snapshot& s, Symbolizer& symbolizer, const ReportOptions& options) {
  const HeapTotals& t = s.totals;
  std::string out;
  auto add = [&out](std::string line) {
    out += line;
    out += '\n';
  };
  add(fmt::format("memtrace report ({}) for pid {}", s.reason, s.pid));
  add("");
  add("== Totals ==");
  add(fmt::format("  live heap:        {} bytes in {} blocks ({})", t.live_bytes, t.live_blocks, HumanBytes(t.live_bytes)));
  add(fmt::format("  allocations:      {} ({} allocated in total), frees: {}", t.allocs, HumanBytes(t.alloc_bytes),
                  t.frees));
  add(fmt::format("  peak live heap:   {}", HumanBytes(t.peak_live_bytes)));
  add(fmt::format("  process RSS:      {}", HumanBytes(s.rss_bytes)));
  if (t.unmatched_frees > 0) {
    add(fmt::format("  untracked frees:  {} (blocks allocated before tracing started)", t.unmatched_frees));
  }
  add("");
  size_t shown = options.top <= 0 ? s.sites.size() : std::min<size_t>(s.sites.size(), static_cast<size_t>(options.top));
  if (s.sites.empty()) {
    add("No heap memory is live: no leaks.");
  } else {
    add(fmt::format("== Top {} of {} call sites by live bytes ==", shown, s.sites.size()));
    for (size_t i = 0; i < shown; ++i) {
      const SiteEntry& site = s.sites[i];
      add("");
      add(fmt::format("#{}  {} bytes live in {} blocks ({})  [{} allocations, {} in total]", i + 1,
                      site.stats.live_bytes, site.stats.live_blocks, HumanBytes(site.stats.live_bytes),
                      site.stats.allocs, HumanBytes(site.stats.alloc_bytes)));
      std::vector<Frame> frames = SymbolizeStack(site.stack, symbolizer);
      if (frames.empty()) add("      (no stack)");
      for (size_t k = 0; k < frames.size(); ++k) add(fmt::format("      {} {}", k == 0 ? "at" : "by", FrameLine(frames[k])));
    }
  }
  const TracerStats& tr = s.tracer;
  add("");
  add("== Tracer ==");
  add(fmt::format("  {} events, {} ring stalls, {} dropped events, {} stacks, {} threads; memory {}", tr.events,
                  tr.ring_stalls, tr.dropped_events, tr.stacks, tr.threads_seen, HumanBytes(tr.memory_bytes)));
  add(fmt::format("  clock {}, unwinder {}", tr.clock, tr.unwinder));
  if (tr.untraced_threads > 0) add(fmt::format("  {} threads were not traced (no slot left)", tr.untraced_threads));
  return out;
}

}  // namespace memtrace
