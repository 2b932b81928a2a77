// The text report: totals first, then the top sites with their stacks, the
// timeline's last points, then the tracer's own cost. Meant to be read by a
// person in a terminal.
#include <fmt/format.h>

#include <algorithm>

#include "src/report/report_doc.h"

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

namespace {

std::string Signed(int64_t v) { return v > 0 ? fmt::format("+{}", v) : fmt::format("{}", v); }

}  // namespace

std::string RenderTextReport(const ReportDoc& d, const ReportOptions& options) {
  const Totals& t = d.totals;
  std::string out;
  auto add = [&out](std::string line) {
    out += line;
    out += '\n';
  };
  add(fmt::format("memtrace report #{} ({}) for pid {}", d.sequence, d.reason, d.pid));
  if (!d.end.how.empty()) {
    const EndInfo& e = d.end;
    std::string how;
    if (e.how == "signal") {
      how = fmt::format("killed by signal {}{}", e.signal, e.core_dumped ? " (core dumped)" : "");
    } else if (e.how == "exit_group") {
      how = fmt::format("exited with status {} without running exit handlers (exit_group: the Go runtime, "
                        "quick_exit or a raw system call)", e.status);
    } else if (e.how == "_exit") {
      how = fmt::format("_exit({})", e.status);
    } else if (e.how == "exit") {
      how = "exit";
    } else {
      how = "ended (how is unknown)";
    }
    add(fmt::format("the process ended: {}", how));
    if (e.how == "signal" || e.how == "exit_group" || e.how == "unknown") {
      add(fmt::format("  events recovered after the end: {}; lost: {} (threads that were inside an allocation call)",
                      e.events_recovered, e.events_lost));
    }
  }
  if (d.tracer.sample_bytes != 0) {
    add(fmt::format("sampling one allocation per {} on average: heap bytes are estimates, heap blocks count samples",
                    HumanBytes(d.tracer.sample_bytes)));
  }
  add("");
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
  const SiteStats& dev = t.spaces[static_cast<int>(Space::kCudaDevice)];
  const SiteStats& pinned = t.spaces[static_cast<int>(Space::kCudaPinned)];
  const SiteStats& managed = t.spaces[static_cast<int>(Space::kCudaManaged)];
  if (dev.allocs + pinned.allocs + managed.allocs > 0) {
    add(fmt::format("  live CUDA memory: {} on devices in {} blocks, {} pinned host, {} managed", HumanBytes(dev.live_bytes),
                    dev.live_blocks, HumanBytes(pinned.live_bytes), HumanBytes(managed.live_bytes)));
  }
  add(fmt::format("  peak live:        {} (all spaces)", HumanBytes(t.peak_live_bytes)));
  add(fmt::format("  process RSS:      {}; the kernel maps {} anonymous, {} of files (incl. what the hooks do not see)",
                  HumanBytes(d.rss_bytes), HumanBytes(t.process_anon_bytes), HumanBytes(t.process_file_bytes)));
  if (t.heap.unmatched_frees > 0) {
    add(fmt::format("  untracked frees:  {} (blocks allocated before tracing started)", t.heap.unmatched_frees));
  }
  add("");
  size_t shown = options.top <= 0 ? d.sites.size() : std::min<size_t>(d.sites.size(), static_cast<size_t>(options.top));
  if (d.sites.empty()) {
    add("No memory is live at any traced site: no leaks.");
  } else {
    add(fmt::format("== Top {} of {} call sites by live bytes ==", shown, d.sites.size()));
    for (size_t i = 0; i < shown; ++i) {
      const DocSite& site = d.sites[i];
      add("");
      bool heap_site = site.space == "heap";
      add(fmt::format("#{}  {} bytes live in {} {} ({})  [{}, {} allocations, {} in total; {} bytes since the last "
                      "report]",
                      i + 1, site.stats.live_bytes, site.stats.live_blocks, heap_site ? "blocks" : "ranges",
                      HumanBytes(site.stats.live_bytes), site.space, site.stats.allocs,
                      HumanBytes(site.stats.alloc_bytes), Signed(site.growth_bytes)));
      for (const FileShare& f : site.files) add(fmt::format("      file {} ({})", f.path, HumanBytes(f.live_bytes)));
      if (site.frames.empty()) add("      (no stack)");
      for (size_t k = 0; k < site.frames.size(); ++k) {
        add(fmt::format("      {} {}", k == 0 ? "at" : "by", FrameLine(site.frames[k])));
      }
    }
  }
  bool any_device = false;
  for (const DocSite& site : d.sites) any_device |= site.space.rfind("cuda_", 0) == 0;
  if (any_device || d.cuda.runtime_hooks || d.cuda.cupti) {
    add("");
    add("== CUDA memory ==");
    add(fmt::format("  layers: runtime hooks {}, CUPTI driver callbacks {}{}", d.cuda.runtime_hooks ? "on" : "off",
                    d.cuda.cupti ? "on" : "off", d.cuda.reason.empty() ? "" : " (" + d.cuda.reason + ")"));
    for (const DeviceTotals& dv : d.devices) {
      add(fmt::format("  device {}: {} live in {} blocks", dv.ordinal, HumanBytes(dv.live_bytes), dv.live_blocks));
    }
    size_t shown_cuda = 0;
    for (const DocSite& site : d.sites) {
      if (site.space.rfind("cuda_", 0) != 0 || shown_cuda++ == 5) continue;
      add(fmt::format("  {} bytes in {} blocks [{}{}]  at {}", site.stats.live_bytes, site.stats.live_blocks, site.space,
                      site.device >= 0 ? fmt::format(", device {}", site.device) : "",
                      site.frames.empty() ? std::string("(no stack)") : FrameLine(site.frames[0])));
    }
  }
  const ThreadTotals& tt = d.thread_totals;
  if (tt.seen > 1) {
    add("");
    add("== Threads ==");
    add(fmt::format("  {} threads seen: {} alive, {} exited ({} exited without join or detach, keeping {} of stack), "
                    "{} orphans (alive, creator exited)",
                    tt.seen, tt.alive, tt.exited, tt.exited_unjoined, HumanBytes(tt.unjoined_stack_bytes), tt.orphans));
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
                                           : FrameLine(c.frames[0]);
      add("");
      add(fmt::format("  created by {}", where));
      for (size_t k = 1; k < c.frames.size() && k < 4; ++k) add(fmt::format("           {}", FrameLine(c.frames[k])));
      add(fmt::format("    {} threads ({} alive, {} exited, {} unjoined); live {}, of which {} held by exited threads",
                      c.stats.created, c.stats.alive, c.stats.exited, c.stats.exited_unjoined,
                      HumanBytes(c.stats.live_bytes), HumanBytes(c.stats.exited_live_bytes)));
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
                      p.glibc_known ? HumanBytes(p.glibc_free_bytes) : std::string("-"),
                      p.glibc_known ? fmt::format("{}", p.glibc_arenas) : std::string("-"), p.mark));
    }
  }
  const TracerStats& tr = d.tracer;
  add("");
  add("== Tracer ==");
  add(fmt::format("  {} events, {} ring stalls, {} dropped events, {} stacks, {} threads; memory {} in the program, "
                  "{} in the watcher",
                  tr.events, tr.ring_stalls, tr.dropped_events, tr.stacks, tr.threads_seen, HumanBytes(tr.memory_bytes),
                  HumanBytes(tr.watcher_memory_bytes)));
  add(fmt::format("  clock {} ({} stamps), unwinder {}; live-block tables {}", tr.clock, tr.fence, tr.unwinder,
                  HumanBytes(tr.live_table_bytes)));
  if (tr.untraced_threads > 0) add(fmt::format("  {} threads were not traced (no slot left)", tr.untraced_threads));
  return out;
}

}  // namespace memtrace
