// Folded stacks (Brendan Gregg's format, read by flamegraph.pl, speedscope,
// inferno): one line per site with live bytes, "root;...;leaf BYTES", the
// outermost frame first. Heap sites start at their outermost function; other
// memory spaces get their space as the root frame ("[anon_mmap];main;..."),
// so one flame graph shows every space and the lines add up to the live
// total. Inlined calls are frames of their own. Sites beyond the listing
// bound are one line per space, "[sites beyond MEMTRACE_MAX_SITES]".
#include <fmt/format.h>

#include "src/report/render.h"

namespace memtrace {
namespace {

// A frame's name with the format's separators (';', and the space before
// the count is the last one on the line, so spaces are fine) and control
// characters made harmless.
std::string FoldedName(const Frame& f) {
  std::string name = f.function;
  if (name.empty()) {
    size_t slash = f.module.rfind('/');
    name = fmt::format("{}+{:#x}", slash == std::string::npos ? f.module : f.module.substr(slash + 1), f.offset);
  }
  std::string out = Printable(name);
  for (char& c : out) {
    if (c == ';') c = ':';
  }
  return out;
}

}  // namespace

std::string RenderFoldedReport(const ReportDoc& d) {
  std::string out;
  auto line = [&out](const std::string& space, const std::string& stack, uint64_t bytes) {
    if (bytes == 0) return;
    if (space != "heap") out += "[" + space + "];";
    out += stack;
    fmt::format_to(std::back_inserter(out), " {}\n", bytes);
  };
  for (const DocSite& site : d.sites) {
    std::string stack;
    for (size_t k = site.frames.size(); k-- > 0;) {
      stack += FoldedName(d.frame(site.frames[k]));
      if (k > 0) stack += ';';
    }
    line(site.space, stack.empty() ? std::string("[no stack]") : stack, site.stats.live_bytes);
  }
  for (const DocOmitted& o : d.omitted) line(o.space, "[sites beyond MEMTRACE_MAX_SITES]", o.stats.live_bytes);
  return out;
}

}  // namespace memtrace
