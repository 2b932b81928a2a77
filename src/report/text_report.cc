// The text report: totals first, then the top sites with their stacks, the
// timeline's last points, then the tracer's own cost. Meant to be read by a
// person in a terminal, so every string that came from the program (paths,
// symbols, thread names, marks) goes through Printable(): a report cannot
// move the cursor, change the title or hide a line.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <string_view>

#include "src/report/json_text.h"
#include "src/report/render.h"
#include "src/report/symbolizer.h"

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

std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t n = c >= 0x80 ? json::Utf8SequenceLength(s, i) : 0;
    // C1 controls (U+0080..U+009F, encoded C2 80..C2 9F) act on terminals too.
    bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
    if (n == 0 || c1) {
      for (size_t k = 0; k < (c1 ? 2u : 1u); ++k) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i + k]));
      i += c1 ? 2 : 1;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string FrameLine(const Frame& f) {
  std::string where;
  if (!f.file.empty()) {
    where = f.line > 0 ? fmt::format("{}:{}", Printable(f.file), f.line) : Printable(f.file);
  } else {
    size_t slash = f.module.rfind('/');
    where = fmt::format("{}+{:#x}", Printable(slash == std::string::npos ? f.module : f.module.substr(slash + 1)), f.offset);
  }
  return fmt::format("{}{} ({})", f.inlined ? "[inlined] " : "", f.function.empty() ? "??" : Printable(f.function),
                     where);
}

namespace {

// Library plumbing between an allocation and the code that asked for it:
// inlined standard-library scopes (their source is a system header) and the
// C and C++ runtimes' own functions. A one-line summary skips them.
bool LibraryFrame(const Frame& f) {
  if (f.file.rfind("/usr/include/", 0) == 0) return true;
  if (f.function.rfind("operator new", 0) == 0) return true;
  if (!f.file.empty()) return false;
  if (IsGlibcModule(f.module)) return true;
  size_t slash = f.module.rfind('/');
  std::string_view base = slash == std::string::npos ? std::string_view(f.module)
                                                       : std::string_view(f.module).substr(slash + 1);
  return base.starts_with("libstdc++.so") || base.starts_with("libgcc_s.so");
}

// "FRAME  <- CALLER" for a one-line summary, from the first frame that is not
// library plumbing (the whole stack is in the site list below).
std::string WhereLine(const ReportDoc& d, const DocSite& site) {
  if (site.frames.empty()) return "(no stack)";
  size_t first = 0;
  while (first < site.frames.size() && LibraryFrame(d.frame(site.frames[first]))) ++first;
  if (first == site.frames.size()) first = 0;  // all of it is the runtime's own
  std::string out = FrameLine(d.frame(site.frames[first]));
  if (first + 1 < site.frames.size()) out += "  <- " + FrameLine(d.frame(site.frames[first + 1]));
  if (first > 0) out += fmt::format("  (under {} library frame{})", first, first == 1 ? "" : "s");
  return out;
}

std::string Signed(int64_t v) { return v > 0 ? fmt::format("+{}", v) : fmt::format("{}", v); }

std::string Kinds(const LeakKinds& k) {
  std::string out;
  auto one = [&out](const char* name, const LeakCount& c) {
    if (c.bytes == 0 && c.blocks == 0) return;
    out += fmt::format("{}{} {} in {} blocks", out.empty() ? "" : ", ", name, HumanBytes(c.bytes), c.blocks);
  };
  one("definite", k.definite);
  one("indirect", k.indirect);
  one("possible", k.possible);
  one("reachable", k.reachable);
  one("suppressed", k.suppressed);
  return out.empty() ? "nothing live" : out;
}

std::string Cost(const MappingCost& c) {
  return fmt::format("reserved {}, committed {}, resident {}", HumanBytes(c.reserved_bytes),
                     HumanBytes(c.committed_bytes), HumanBytes(c.resident_bytes));
}

std::string EndLine(const ProcessEnd& e) {
  std::string how = Printable(e.how);
  if (e.how == "signal" || e.how == "killed") how += e.signal ? fmt::format(" {}", *e.signal) : "";
  if (e.core_dumped.value_or(false)) how += " (core dumped)";
  if (e.how == "exit_group") how += " (no exit handlers ran: the Go runtime, quick_exit or a raw exit_group)";
  if (e.status) how += fmt::format(" with status {}", *e.status);
  std::string line = fmt::format("  process ended:    {}", how);
  if (e.events_in_flight > 0 || e.events_lost > 0) {
    line += fmt::format("; {} events in flight, {} recovered, {} lost", e.events_in_flight, e.events_recovered,
                        e.events_lost);
  }
  return line;
}

// The leak check's answer, first, when one ran (issue 14): sites with
// definitely lost memory, then indirectly and possibly lost, then one line
// for what is still reachable and which threads alone hold it.
void LeakSection(const ReportDoc& d, const ReportOptions& options, const std::function<void(std::string)>& add) {
  const LeakKinds& all = *d.totals.leak_kinds;
  add("== Leaks (reachability scan) ==");
  if (d.leak_scan) {
    const LeakScanInfo& s = *d.leak_scan;
    add(fmt::format("  the program was stopped {:.1f} ms ({} threads{}) to scan {} of roots and {} of blocks",
                    s.paused_ms, s.threads_stopped,
                    s.threads_not_stopped ? fmt::format(", {} did not stop and were scanned whole", s.threads_not_stopped)
                                          : std::string(),
                    HumanBytes(s.root_bytes), HumanBytes(s.block_bytes)));
  }
  size_t limit = options.top <= 0 ? SIZE_MAX : static_cast<size_t>(options.top);
  struct Kind {
    const char* title;
    const LeakCount LeakKinds::*count;
  };
  const Kind kinds[] = {{"definitely lost", &LeakKinds::definite},
                        {"indirectly lost", &LeakKinds::indirect},
                        {"possibly lost", &LeakKinds::possible}};
  for (const Kind& k : kinds) {
    const LeakCount& total = all.*k.count;
    if (total.blocks == 0) continue;
    std::vector<const DocSite*> sites;
    for (const DocSite& s : d.sites) {
      if (s.leak_kinds && ((*s.leak_kinds).*k.count).blocks > 0) sites.push_back(&s);
    }
    std::stable_sort(sites.begin(), sites.end(), [&](const DocSite* a, const DocSite* b) {
      return ((*a->leak_kinds).*k.count).bytes > ((*b->leak_kinds).*k.count).bytes;
    });
    add("");
    add(fmt::format("  {} bytes {} in {} blocks:", total.bytes, k.title, total.blocks));
    for (size_t i = 0; i < sites.size() && i < limit; ++i) {
      const LeakCount& c = (*sites[i]->leak_kinds).*k.count;
      add(fmt::format("    {} bytes in {} blocks [{}] at {}", c.bytes, c.blocks, Printable(sites[i]->space),
                      WhereLine(d, *sites[i])));
    }
    if (sites.size() > limit) add(fmt::format("    ... and {} more sites (MEMTRACE_TOP)", sites.size() - limit));
  }
  if (all.definite.blocks + all.indirect.blocks + all.possible.blocks == 0) {
    add("");
    add("  nothing is lost.");
  }
  std::string held;
  for (const DocThread& t : d.threads) {
    if (!t.entry.holds_reachable || t.entry.holds_reachable->bytes == 0) continue;
    std::string who = t.openmp.empty() ? fmt::format("thread {}", t.entry.tid)
                                       : fmt::format("{} worker {}", Printable(t.openmp), t.entry.tid);
    held += fmt::format("{}{} ({}, {})", held.empty() ? "" : "; ", who, t.entry.state,
                        HumanBytes(t.entry.holds_reachable->bytes));
  }
  add("");
  add(fmt::format("  still reachable: {} in {} blocks{}", HumanBytes(all.reachable.bytes), all.reachable.blocks,
                  held.empty() ? std::string(" (held by globals, or by several threads)")
                               : "; held by one thread's stack or TLS: " + held));
  if (all.suppressed.blocks > 0) {
    add(fmt::format("  suppressed: {} in {} blocks", HumanBytes(all.suppressed.bytes), all.suppressed.blocks));
  }
  if (d.leak_scan && !d.leak_scan->gate.empty()) add("  gate: " + Printable(d.leak_scan->gate.substr(d.leak_scan->gate.find(' ') + 1)));
  add("");
}

}  // namespace

std::string RenderTextReport(const ReportDoc& d, const ReportOptions& options) {
  const Totals& t = d.totals;
  std::string out;
  auto add = [&out](std::string line) {
    out += line;
    out += '\n';
  };
  add(fmt::format("memtrace report #{} ({}) for pid {}, memtrace {}", d.sequence, Printable(d.reason), d.pid,
                  Printable(d.version)));
  if (d.tracer.sample_bytes != 0) {
    add(fmt::format("sampling one allocation per {} on average: heap bytes are estimates, heap blocks count samples",
                    HumanBytes(d.tracer.sample_bytes)));
  }
  add("");
  if (t.leak_kinds) LeakSection(d, options, add);
  add("== Totals ==");
  const SiteStats& heap = t.spaces[static_cast<int>(Space::kHeap)];
  const SiteStats& anon = t.spaces[static_cast<int>(Space::kAnonMmap)];
  const SiteStats& file = t.spaces[static_cast<int>(Space::kFileMmap)];
  add(fmt::format("  live heap:        {} bytes in {} blocks ({})", heap.live_bytes, heap.live_blocks,
                  HumanBytes(heap.live_bytes)));
  add(fmt::format("  heap calls:       {} allocations ({} in total), {} frees", heap.allocs,
                  HumanBytes(heap.alloc_bytes), heap.frees));
  if (anon.allocs + file.allocs > 0) {
    add(fmt::format("  live mappings:    {} anonymous in {} ranges, {} of files in {} ranges", HumanBytes(anon.live_bytes),
                    anon.live_blocks, HumanBytes(file.live_bytes), file.live_blocks));
  }
  for (int sp : {static_cast<int>(Space::kAnonMmap), static_cast<int>(Space::kFileMmap)}) {
    if (t.space_cost[sp] && (t.spaces[sp].live_blocks > 0 || t.space_cost[sp]->reserved_bytes > 0)) {
      add(fmt::format("  {:<17} {}", std::string(SpaceName(static_cast<Space>(sp))) + ":", Cost(*t.space_cost[sp])));
    }
  }
  const SiteStats& dev = t.spaces[static_cast<int>(Space::kCudaDevice)];
  const SiteStats& pinned = t.spaces[static_cast<int>(Space::kCudaPinned)];
  const SiteStats& managed = t.spaces[static_cast<int>(Space::kCudaManaged)];
  if (dev.allocs + pinned.allocs + managed.allocs > 0) {
    add(fmt::format("  live CUDA memory: {} on devices in {} blocks, {} pinned host, {} managed", HumanBytes(dev.live_bytes),
                    dev.live_blocks, HumanBytes(pinned.live_bytes), HumanBytes(managed.live_bytes)));
  }
  if (t.leak_kinds) add(fmt::format("  leak kinds:       {}", Kinds(*t.leak_kinds)));
  if (d.suppressions_used) {
    for (const SuppressionUse& s : *d.suppressions_used) {
      add(fmt::format("  suppressed by {}: {} in {} blocks", Printable(s.pattern), HumanBytes(s.bytes), s.blocks));
    }
  }
  add(fmt::format("  peak live:        {} (all spaces)", HumanBytes(t.peak_live_bytes)));
  add(fmt::format("  process RSS:      {}; the kernel maps {} anonymous, {} of files (incl. what the hooks do not see)",
                  HumanBytes(d.rss_bytes), HumanBytes(t.process_anon_bytes), HumanBytes(t.process_file_bytes)));
  if (t.predating_anon_bytes || t.predating_file_bytes) {
    add(fmt::format("  before tracing:   {} anonymous and {} of files were mapped already and still are (not tracked)",
                    HumanBytes(t.predating_anon_bytes.value_or(0)), HumanBytes(t.predating_file_bytes.value_or(0))));
  }
  if (t.heap.unmatched_frees > 0) {
    add(fmt::format("  untracked frees:  {} (blocks allocated before tracing started)", t.heap.unmatched_frees));
  }
  if (d.end) add(EndLine(*d.end));
  add("");
  // Two listings, so that heap sites are never buried under mappings: heap
  // (and CUDA) sites by live bytes, then mappings by what they hold in
  // memory -- resident bytes where measured, else what they reserve.
  auto is_mapping = [](const std::string& space) { return space == "anon_mmap" || space == "file_mmap"; };
  std::vector<const DocSite*> blocks, mappings;
  for (const DocSite& site : d.sites) (is_mapping(site.space) ? mappings : blocks).push_back(&site);
  auto held = [](const DocSite* s) { return s->cost ? s->cost->resident_bytes : s->stats.live_bytes; };
  std::stable_sort(mappings.begin(), mappings.end(), [&held](const DocSite* a, const DocSite* b) {
    if (held(a) != held(b)) return held(a) > held(b);
    return a->stats.live_bytes > b->stats.live_bytes;
  });
  uint64_t block_count = blocks.size(), mapping_count = mappings.size();
  for (const DocOmitted& o : d.omitted) (is_mapping(o.space) ? mapping_count : block_count) += o.sites;
  int number = 0;
  auto list = [&](const std::vector<const DocSite*>& sites, bool mapping_list) {
    size_t shown = options.top <= 0 ? sites.size() : std::min<size_t>(sites.size(), static_cast<size_t>(options.top));
    for (size_t i = 0; i < shown; ++i) {
      const DocSite& site = *sites[i];
      add("");
      bool heap_site = !is_mapping(site.space);
      add(fmt::format("#{}  {} bytes live in {} {} ({})  [{}{}, {} allocations, {} in total; {} bytes since the last "
                      "report]",
                      ++number, site.stats.live_bytes, site.stats.live_blocks, heap_site ? "blocks" : "ranges",
                      HumanBytes(site.stats.live_bytes), Printable(site.space),
                      site.label.empty() ? "" : ", " + Printable(site.label), site.stats.allocs,
                      HumanBytes(site.stats.alloc_bytes), Signed(site.growth_bytes)));
      if (site.leak_kinds) add(fmt::format("      leak kinds: {}", Kinds(*site.leak_kinds)));
      if (site.cost) add(fmt::format("      {}", Cost(*site.cost)));
      for (const FileShare& f : site.files) {
        add(fmt::format("      file {} ({})", Printable(f.path), HumanBytes(f.live_bytes)));
      }
      if (site.frames.empty()) add("      (no stack)");
      for (size_t k = 0; k < site.frames.size(); ++k) {
        add(fmt::format("      {} {}", k == 0 ? "at" : "by", FrameLine(d.frame(site.frames[k]))));
      }
    }
    for (const DocOmitted& o : d.omitted) {
      if (o.sites == 0 || is_mapping(o.space) != mapping_list) continue;
      add("");
      add(fmt::format("    ... and {} more {} sites beyond the listing bound of {} (MEMTRACE_MAX_SITES): {} live in "
                      "{} {}",
                      o.sites, Printable(o.space), d.max_sites, HumanBytes(o.stats.live_bytes), o.stats.live_blocks,
                      o.space == "heap" ? "blocks" : "ranges"));
    }
    return shown;
  };
  if (d.site_count() == 0) {
    add("No memory is live at any traced site: no leaks.");
  } else {
    if (block_count > 0 || mapping_count == 0) {
      size_t shown = options.top <= 0 ? blocks.size() : std::min<size_t>(blocks.size(), static_cast<size_t>(options.top));
      add(fmt::format("== Top {} of {} call sites by live bytes ==", shown, block_count));
      list(blocks, false);
    }
    if (mapping_count > 0) {
      if (block_count > 0) add("");
      size_t shown =
          options.top <= 0 ? mappings.size() : std::min<size_t>(mappings.size(), static_cast<size_t>(options.top));
      add(fmt::format("== Top {} of {} mapping sites by resident bytes ==", shown, mapping_count));
      // What known allocators and runtimes hold, by label (listed sites).
      std::vector<std::pair<std::string, MappingCost>> by_label;
      for (const DocSite* site : mappings) {
        if (site->label.empty()) continue;
        auto it = std::find_if(by_label.begin(), by_label.end(), [&](auto& x) { return x.first == site->label; });
        if (it == by_label.end()) it = by_label.insert(by_label.end(), {site->label, MappingCost{}});
        MappingCost c = site->cost.value_or(MappingCost{site->stats.live_bytes, site->stats.live_bytes, 0});
        it->second.reserved_bytes += c.reserved_bytes;
        it->second.committed_bytes += c.committed_bytes;
        it->second.resident_bytes += c.resident_bytes;
      }
      for (const auto& [label, c] : by_label) {
        add(fmt::format("  {}: {}", Printable(label), Cost(c)));
      }
      list(mappings, true);
    }
  }
  bool any_device = false;
  for (const DocSite& site : d.sites) any_device |= site.space.rfind("cuda_", 0) == 0;
  if (any_device || d.cuda.runtime_hooks || d.cuda.cupti) {
    add("");
    add("== CUDA memory ==");
    add(fmt::format("  layers: runtime hooks {}, CUPTI driver callbacks {}{}", d.cuda.runtime_hooks ? "on" : "off",
                    d.cuda.cupti ? "on" : "off", d.cuda.reason.empty() ? "" : " (" + Printable(d.cuda.reason) + ")"));
    for (const DeviceTotals& dv : d.devices) {
      add(fmt::format("  device {}: {} live in {} blocks", dv.ordinal, HumanBytes(dv.live_bytes), dv.live_blocks));
    }
    size_t shown_cuda = 0;
    for (const DocSite& site : d.sites) {
      if (site.space.rfind("cuda_", 0) != 0 || shown_cuda++ == 5) continue;
      add(fmt::format("  {} bytes in {} blocks [{}{}]  at {}", site.stats.live_bytes, site.stats.live_blocks,
                      Printable(site.space), site.device >= 0 ? fmt::format(", device {}", site.device) : "",
                      WhereLine(d, site)));
    }
  }
  const ThreadTotals& tt = d.thread_totals;
  if (tt.seen > 1) {
    add("");
    add("== Threads ==");
    add(fmt::format("  {} threads seen: {} alive, {} exited ({} exited without join or detach, keeping {} of stack), "
                    "{} orphans (alive, creator exited)",
                    tt.seen, tt.alive, tt.exited, tt.exited_unjoined, HumanBytes(tt.unjoined_stack_bytes), tt.orphans));
    if (tt.predating) {
      add(fmt::format("  {} threads were already running when tracing began (the main thread included)", *tt.predating));
    }
    add(fmt::format("  live memory allocated by threads that have exited: {}", HumanBytes(tt.exited_thread_live_bytes)));
    const DocOpenMP& omp = d.openmp;
    if (!omp.pools.empty()) {
      add(fmt::format("  OpenMP: {} pools created by {} distinct host threads, {} of which have exited; {} held by "
                      "their {} workers ({} alive), {} by the whole teams",
                      omp.pools.size(), omp.pools.size(), omp.hosts_exited, HumanBytes(omp.worker_live_bytes),
                      omp.workers, omp.workers_alive, HumanBytes(omp.team_live_bytes)));
    }
    size_t shown_creators = 0;
    for (const DocCreator& c : d.creators) {
      if (shown_creators++ == 5) break;
      std::string where = c.frames.empty() ? std::string("(not created through pthread_create while traced: the main "
                                                         "thread, or threads older than the tracer)")
                                           : FrameLine(d.frame(c.frames[0]));
      add("");
      add(fmt::format("  created by {}", where));
      for (size_t k = 1; k < c.frames.size() && k < 4; ++k) add(fmt::format("           {}", FrameLine(d.frame(c.frames[k]))));
      add(fmt::format("    {} threads ({} alive, {} exited, {} unjoined); live {}, of which {} held by exited threads",
                      c.created, c.alive, c.exited, c.exited_unjoined, HumanBytes(c.live_bytes),
                      HumanBytes(c.exited_live_bytes)));
    }
  }
  if (!d.timeline.empty()) {
    add("");
    add("== Timeline (last points) ==");
    add("  seconds     tracked         RSS  glibc free  arenas  mark");
    size_t first = d.timeline.size() > 8 ? d.timeline.size() - 8 : 0;
    for (size_t i = first; i < d.timeline.size(); ++i) {
      const TimelinePoint& p = d.timeline[i];
      add(fmt::format("  {:7.1f} {:>11} {:>11} {:>11} {:>7}  {}", p.t, HumanBytes(p.live_bytes), HumanBytes(p.rss_bytes),
                      p.glibc_free_bytes ? HumanBytes(*p.glibc_free_bytes) : std::string("-"),
                      p.glibc_arenas ? fmt::format("{}", *p.glibc_arenas) : std::string("-"), Printable(p.mark)));
    }
  }
  const TracerStats& tr = d.tracer;
  add("");
  add("== Tracer ==");
  add(fmt::format("  {} events, {} ring stalls, {} dropped events, {} stacks, {} threads; memory {} in the program{}",
                  tr.events, tr.ring_stalls, tr.dropped_events, tr.stacks, tr.threads_seen, HumanBytes(tr.memory_bytes),
                  tr.watcher_memory_bytes ? fmt::format(", {} in the watcher", HumanBytes(*tr.watcher_memory_bytes))
                                          : std::string()));
  add(fmt::format("  clock {} ({} stamps), unwinder {}; live-block tables {}", Printable(tr.clock), Printable(tr.fence),
                  Printable(tr.unwinder), HumanBytes(tr.live_table_bytes)));
  if (tr.untraced_threads > 0) add(fmt::format("  {} threads were not traced (no slot left)", tr.untraced_threads));
  if (tr.deepbind) {
    for (const DeepbindLibrary& lib : *tr.deepbind) {
      add(lib.caught_up
              ? fmt::format("  RTLD_DEEPBIND: {} binds to the C library's allocator; {} of its relocations were pointed "
                            "back at the tracer when its dlopen returned (what its constructors did is not seen)",
                            Printable(lib.path), lib.redirected)
              : fmt::format("  RTLD_DEEPBIND: {} binds to the C library's allocator; its calls bypass the tracer "
                            "(the program made no dl* call since it was opened)",
                            Printable(lib.path)));
    }
  }
  if (tr.degraded) {
    for (const DegradedReason& r : *tr.degraded) {
      add(fmt::format("  degraded: {} ({} times): the report may miss what those events carried", Printable(r.reason),
                      r.count));
    }
  }
  return out;
}

}  // namespace memtrace
