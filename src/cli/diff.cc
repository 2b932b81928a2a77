// Report comparison (see diff.h).
#include "src/cli/diff.h"

#include <fmt/format.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "src/report/json_text.h"
#include "src/report/pprof_report.h"
#include "src/report/render.h"

namespace memtrace {
namespace {

std::string Signed(int64_t v) { return v > 0 ? fmt::format("+{}", v) : fmt::format("{}", v); }

std::string SignedBytes(int64_t v) {
  std::string h = HumanBytes(static_cast<uint64_t>(v < 0 ? -v : v));
  return (v < 0 ? "-" : "+") + h;
}

int64_t Delta(uint64_t after, uint64_t before) { return static_cast<int64_t>(after) - static_cast<int64_t>(before); }

}  // namespace

std::vector<SiteDiff> DiffReports(const ReportDoc& a, const ReportDoc& b) {
  // Keys are unique within a document: BuildReportDoc merged sites by them.
  absl::flat_hash_map<std::string, const DocSite*> before;
  for (const DocSite& s : a.sites) before.try_emplace(SiteKey(a, s), &s);
  std::vector<SiteDiff> out;
  for (const DocSite& s : b.sites) {
    SiteDiff d;
    d.after = &s;
    auto it = before.find(SiteKey(b, s));
    if (it != before.end()) {
      d.before = it->second;
      before.erase(it);
    }
    d.growth_bytes = Delta(s.stats.live_bytes, d.before != nullptr ? d.before->stats.live_bytes : 0);
    d.growth_blocks = Delta(s.stats.live_blocks, d.before != nullptr ? d.before->stats.live_blocks : 0);
    if (d.growth_bytes != 0 || d.growth_blocks != 0) out.push_back(d);
  }
  for (const DocSite& s : a.sites) {
    if (before.contains(SiteKey(a, s)) && s.stats.live_bytes + s.stats.live_blocks > 0) {
      out.push_back(SiteDiff{&s, nullptr, -static_cast<int64_t>(s.stats.live_bytes),
                             -static_cast<int64_t>(s.stats.live_blocks)});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const SiteDiff& x, const SiteDiff& y) {
    if (x.growth_bytes != y.growth_bytes) return x.growth_bytes > y.growth_bytes;
    return x.growth_blocks > y.growth_blocks;
  });
  return out;
}

std::string RenderDiffText(const ReportDoc& a, const ReportDoc& b, const std::vector<SiteDiff>& diffs, int top) {
  std::string out;
  auto add = [&out](std::string line) {
    out += line;
    out += '\n';
  };
  add(fmt::format("memtrace diff: pid {} report #{} ({}) -> pid {} report #{} ({}), {:.1f} s apart", a.pid, a.sequence,
                  Printable(a.reason), b.pid, b.sequence, Printable(b.reason),
                  (static_cast<double>(b.time_unix_ms) - static_cast<double>(a.time_unix_ms)) / 1000.0));
  add("");
  add("== Totals ==");
  add(fmt::format("  live, all spaces: {} -> {} ({})", HumanBytes(a.totals.live_bytes), HumanBytes(b.totals.live_bytes),
                  SignedBytes(Delta(b.totals.live_bytes, a.totals.live_bytes))));
  for (int sp = 0; sp < kSpaceCount; ++sp) {
    const SiteStats& x = a.totals.spaces[sp];
    const SiteStats& y = b.totals.spaces[sp];
    if (x.live_bytes == 0 && y.live_bytes == 0) continue;
    add(fmt::format("  {:<16} {} -> {} ({})", SpaceName(static_cast<Space>(sp)) + std::string(":"),
                    HumanBytes(x.live_bytes), HumanBytes(y.live_bytes), SignedBytes(Delta(y.live_bytes, x.live_bytes))));
  }
  add(fmt::format("  process RSS:     {} -> {}", HumanBytes(a.rss_bytes), HumanBytes(b.rss_bytes)));
  add("");
  size_t grew = 0, appeared = 0, shrank = 0, gone = 0;
  for (const SiteDiff& d : diffs) {
    if (d.before == nullptr) ++appeared;
    else if (d.after == nullptr) ++gone;
    else if (d.growth_bytes > 0) ++grew;
    else ++shrank;
  }
  add(fmt::format("== {} sites changed: {} grew, {} appeared, {} shrank, {} disappeared ==", diffs.size(), grew,
                  appeared, shrank, gone));
  size_t shown = top <= 0 ? diffs.size() : std::min<size_t>(diffs.size(), static_cast<size_t>(top));
  for (size_t i = 0; i < shown; ++i) {
    const SiteDiff& d = diffs[i];
    const ReportDoc& doc = d.after != nullptr ? b : a;
    const DocSite& s = d.after != nullptr ? *d.after : *d.before;
    const char* what = d.before == nullptr ? "appeared" : d.after == nullptr ? "disappeared" : "";
    add("");
    add(fmt::format("#{}  {} bytes ({} blocks) [{}] {} -> {} bytes {}", i + 1, Signed(d.growth_bytes),
                    Signed(d.growth_blocks), Printable(s.space), d.before != nullptr ? d.before->stats.live_bytes : 0,
                    d.after != nullptr ? d.after->stats.live_bytes : 0, what));
    for (const FileShare& f : s.files) add(fmt::format("      file {}", Printable(f.path)));
    for (size_t k = 0; k < s.frames.size(); ++k) {
      add(fmt::format("      {} {}", k == 0 ? "at" : "by", FrameLine(doc.frame(s.frames[k]))));
    }
  }
  // Sites beyond the listing bound: compared as one remainder per space.
  for (const char* space : {"heap", "anon_mmap", "file_mmap", "cuda_device", "cuda_host_pinned", "cuda_managed"}) {
    uint64_t x = 0, y = 0;
    for (const DocOmitted& o : a.omitted) x += o.space == space ? o.stats.live_bytes : 0;
    for (const DocOmitted& o : b.omitted) y += o.space == space ? o.stats.live_bytes : 0;
    if (x != y) {
      add("");
      add(fmt::format("    {} sites beyond the listing bound: {} -> {} bytes ({})", space, x, y, Signed(Delta(y, x))));
    }
  }
  return out;
}

std::string RenderDiffJson(const ReportDoc& a, const ReportDoc& b, const std::vector<SiteDiff>& diffs) {
  std::string out = fmt::format(
      "{{\"schema\": \"memtrace-diff/1\", \"before\": {{\"pid\": {}, \"sequence\": {}, \"live_bytes\": {}}}, "
      "\"after\": {{\"pid\": {}, \"sequence\": {}, \"live_bytes\": {}}}, \"sites\": [",
      a.pid, a.sequence, a.totals.live_bytes, b.pid, b.sequence, b.totals.live_bytes);
  for (size_t i = 0; i < diffs.size(); ++i) {
    const SiteDiff& d = diffs[i];
    const ReportDoc& doc = d.after != nullptr ? b : a;
    const DocSite& s = d.after != nullptr ? *d.after : *d.before;
    std::string frames, space;
    json::AppendQuoted(&space, s.space);
    for (size_t k = 0; k < s.frames.size(); ++k) {
      if (k > 0) frames += ", ";
      json::AppendQuoted(&frames, doc.frame(s.frames[k]).function);
    }
    out += fmt::format(
        "{}{{\"growth_bytes\": {}, \"growth_blocks\": {}, \"space\": {}, \"before_bytes\": {}, \"after_bytes\": {}, "
        "\"status\": \"{}\", \"functions\": [{}]}}",
        i == 0 ? "\n  " : ",\n  ", d.growth_bytes, d.growth_blocks, space,
        d.before != nullptr ? d.before->stats.live_bytes : 0, d.after != nullptr ? d.after->stats.live_bytes : 0,
        d.before == nullptr ? "appeared" : d.after == nullptr ? "disappeared" : "changed", frames);
  }
  out += "]}\n";
  return out;
}

std::string RenderDiffPprof(const ReportDoc& a, const ReportDoc& b) {
  PprofBuilder builder;
  builder.Add(b, +1, /*base=*/false);
  builder.Add(a, -1, /*base=*/true);
  return builder.Finish(b, /*gzip=*/true);
}

}  // namespace memtrace
