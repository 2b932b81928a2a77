// The JSON report, schema "memtrace/1" (docs/report-format.md). Fields are
// only ever added, never renamed.
#include <fmt/format.h>

#include "src/report/report.h"

namespace memtrace {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string OrNull(const std::string& s) { return s.empty() ? "null" : Quote(s); }

}  // namespace

std::string FormatJsonReport(const Snapshot& s, Symbolizer& symbolizer) {
  const Totals& t = s.totals;
  std::string out;
  out += fmt::format("{{\"schema\": \"memtrace/1\", \"pid\": {}, \"reason\": {}, \"time_unix_ms\": {},\n", s.pid,
                     Quote(s.reason), s.time_unix_ms);
  out += fmt::format(
      " \"totals\": {{\"live_bytes\": {}, \"live_blocks\": {}, \"allocs\": {}, \"frees\": {}, \"alloc_bytes\": {}, "
      "\"peak_live_bytes\": {}, \"unmatched_frees\": {}, \"replaced_blocks\": {}, \"untracked_unmap_bytes\": {}, "
      "\"rss_bytes\": {}, \"process_maps\": {{\"anon_bytes\": {}, \"file_bytes\": {}}},\n  \"spaces\": {{",
      t.live_bytes, t.live_blocks, t.allocs, t.frees, t.alloc_bytes, t.peak_live_bytes, t.heap.unmatched_frees,
      t.heap.replaced_blocks, t.untracked_unmap_bytes, s.rss_bytes, t.process_anon_bytes, t.process_file_bytes);
  for (int sp = 0; sp < kSpaceCount; ++sp) {
    const SiteStats& st = t.spaces[sp];
    out += fmt::format(
        "{}\"{}\": {{\"live_bytes\": {}, \"live_blocks\": {}, \"allocs\": {}, \"frees\": {}, \"alloc_bytes\": {}, "
        "\"peak_live_bytes\": {}}}",
        sp == 0 ? "" : ", ", SpaceName(static_cast<Space>(sp)), st.live_bytes, st.live_blocks, st.allocs, st.frees,
        st.alloc_bytes, st.peak_live_bytes);
  }
  out += "}},\n";
  out += " \"sites\": [";
  for (size_t i = 0; i < s.sites.size(); ++i) {
    const SiteEntry& site = s.sites[i];
    out += i == 0 ? "\n  " : ",\n  ";
    out += fmt::format(
        "{{\"live_bytes\": {}, \"live_blocks\": {}, \"allocs\": {}, \"frees\": {}, \"alloc_bytes\": {}, "
        "\"peak_live_bytes\": {}, \"space\": \"{}\", \"stack_id\": {}, ",
        site.stats.live_bytes, site.stats.live_blocks, site.stats.allocs, site.stats.frees, site.stats.alloc_bytes,
        site.stats.peak_live_bytes, SpaceName(site.space), site.stack != nullptr ? static_cast<int64_t>(site.stack->id) : -1);
    if (site.space == Space::kFileMmap) {
      out += "\"files\": [";
      for (size_t k = 0; k < site.files.size(); ++k) {
        out += fmt::format("{}{{\"path\": {}, \"live_bytes\": {}}}", k == 0 ? "" : ", ", Quote(site.files[k].path),
                           site.files[k].live_bytes);
      }
      out += "], ";
    }
    out += "\"frames\": [";
    std::vector<Frame> frames = SymbolizeStack(site.stack, symbolizer);
    for (size_t k = 0; k < frames.size(); ++k) {
      const Frame& f = frames[k];
      out += fmt::format("{}{{\"function\": {}, \"file\": {}, \"line\": {}, \"module\": {}, \"offset\": {}, \"inlined\": {}}}",
                         k == 0 ? "" : ", ", OrNull(f.function), OrNull(f.file),
                         f.line > 0 ? fmt::format("{}", f.line) : "null", Quote(f.module), f.offset,
                         f.inlined ? "true" : "false");
    }
    out += "]}";
  }
  out += "],\n \"modules\": [";
  const auto& modules = symbolizer.modules();
  for (size_t i = 0; i < modules.size(); ++i) {
    out += fmt::format("{}{{\"path\": {}, \"build_id\": {}}}", i == 0 ? "" : ", ", Quote(modules[i].path),
                       OrNull(modules[i].build_id));
  }
  const TracerStats& tr = s.tracer;
  out += fmt::format(
      "],\n \"tracer\": {{\"events\": {}, \"ring_stalls\": {}, \"dropped_events\": {}, \"memory_bytes\": {}, "
      "\"stacks\": {}, \"threads\": {}, \"untraced_threads\": {}, \"own_block_frees\": {}, \"clock\": {}, "
      "\"unwinder\": {}}}}}\n",
      tr.events, tr.ring_stalls, tr.dropped_events, tr.memory_bytes, tr.stacks, tr.threads_seen, tr.untraced_threads,
      t.heap.tracer_frees,
      Quote(tr.clock), Quote(tr.unwinder));
  return out;
}

}  // namespace memtrace
