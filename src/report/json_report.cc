// The JSON report, schema "memtrace/1" (docs/report-format.md). Fields are
// only ever added, never renamed.
#include <fmt/format.h>

#include "src/report/report_doc.h"

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

std::string FramesJson(const std::vector<Frame>& frames) {
  std::string out = "[";
  for (size_t k = 0; k < frames.size(); ++k) {
    const Frame& f = frames[k];
    out += fmt::format(
        "{}{{\"function\": {}, \"file\": {}, \"line\": {}, \"module\": {}, \"offset\": {}, \"inlined\": {}}}",
        k == 0 ? "" : ", ", OrNull(f.function), OrNull(f.file), f.line > 0 ? fmt::format("{}", f.line) : "null",
        Quote(f.module), f.offset, f.inlined ? "true" : "false");
  }
  return out + "]";
}

std::string Seconds(double s) { return s < 0 ? "null" : fmt::format("{:.3f}", s); }

std::string Stats(const SiteStats& st) {
  return fmt::format(
      "\"live_bytes\": {}, \"live_blocks\": {}, \"allocs\": {}, \"frees\": {}, \"alloc_bytes\": {}, "
      "\"peak_live_bytes\": {}",
      st.live_bytes, st.live_blocks, st.allocs, st.frees, st.alloc_bytes, st.peak_live_bytes);
}

}  // namespace

std::string RenderJsonReport(const ReportDoc& d) {
  const Totals& t = d.totals;
  std::string out;
  out += fmt::format(
      "{{\"schema\": \"memtrace/1\", \"pid\": {}, \"reason\": {}, \"sequence\": {}, \"time\": {:.3f}, "
      "\"time_unix_ms\": {},\n \"sampling\": {{\"period_bytes\": {}, \"heap_estimated\": {}, \"overflows\": {}}},\n",
      d.pid, Quote(d.reason), d.sequence, static_cast<double>(d.time_unix_ms) / 1000.0, d.time_unix_ms,
      d.tracer.sample_bytes, d.tracer.sample_bytes != 0 ? "true" : "false", d.tracer.sample_overflows);
  if (d.end.how.empty()) {
    out += " \"end\": null,\n";
  } else {
    const EndInfo& e = d.end;
    out += fmt::format(
        " \"end\": {{\"how\": {}, \"status\": {}, \"signal\": {}, \"core_dumped\": {}, \"threads_in_hook\": {}, "
        "\"events_recovered\": {}, \"events_lost\": {}}},\n",
        Quote(e.how), e.status >= 0 ? fmt::format("{}", e.status) : "null",
        e.signal > 0 ? fmt::format("{}", e.signal) : "null", e.core_dumped ? "true" : "false", e.threads_in_hook,
        e.events_recovered, e.events_lost);
  }
  out += fmt::format(
      " \"totals\": {{\"live_bytes\": {}, \"live_blocks\": {}, \"allocs\": {}, \"frees\": {}, \"alloc_bytes\": {}, "
      "\"peak_live_bytes\": {}, \"unmatched_frees\": {}, \"replaced_blocks\": {}, \"untracked_unmap_bytes\": {}, "
      "\"rss_bytes\": {}, \"process_maps\": {{\"anon_bytes\": {}, \"file_bytes\": {}}},\n  \"spaces\": {{",
      t.live_bytes, t.live_blocks, t.allocs, t.frees, t.alloc_bytes, t.peak_live_bytes, t.heap.unmatched_frees,
      t.heap.replaced_blocks, t.untracked_unmap_bytes, d.rss_bytes, t.process_anon_bytes, t.process_file_bytes);
  for (int sp = 0; sp < kSpaceCount; ++sp) {
    out += fmt::format("{}\"{}\": {{{}}}", sp == 0 ? "" : ", ", SpaceName(static_cast<Space>(sp)), Stats(t.spaces[sp]));
  }
  const ThreadTotals& tt = d.thread_totals;
  out += fmt::format(
      "}},\n  \"exited_thread_live_bytes\": {},\n  \"threads\": {{\"seen\": {}, \"alive\": {}, \"exited\": {}, "
      "\"exited_unjoined\": {}, \"orphans\": {}, \"unjoined_stack_bytes\": {}, \"listed\": {}, \"omitted\": {}}}}},\n",
      tt.exited_thread_live_bytes, tt.seen, tt.alive, tt.exited, tt.exited_unjoined, tt.orphans,
      tt.unjoined_stack_bytes, tt.listed, tt.omitted);
  out += " \"sites\": [";
  for (size_t i = 0; i < d.sites.size(); ++i) {
    const DocSite& site = d.sites[i];
    out += i == 0 ? "\n  " : ",\n  ";
    out += fmt::format(
        "{{{}, \"growth_bytes\": {}, \"growth_blocks\": {}, \"space\": {}, \"device\": {}, \"stack_id\": {}, ",
        Stats(site.stats), site.growth_bytes, site.growth_blocks, Quote(site.space),
        site.device >= 0 ? fmt::format("{}", site.device) : "null", site.stack_id);
    if (site.space == "file_mmap") {
      out += "\"files\": [";
      for (size_t k = 0; k < site.files.size(); ++k) {
        out += fmt::format("{}{{\"path\": {}, \"live_bytes\": {}}}", k == 0 ? "" : ", ", Quote(site.files[k].path),
                           site.files[k].live_bytes);
      }
      out += "], ";
    }
    out += "\"threads\": [";
    for (size_t k = 0; k < site.threads.size(); ++k) {
      out += fmt::format("{}{{\"tid\": {}, \"live_bytes\": {}}}", k == 0 ? "" : ", ", site.threads[k].first,
                         site.threads[k].second);
    }
    out += "], \"frames\": " + FramesJson(site.frames) + "}";
  }
  out += "],\n \"threads\": [";
  for (size_t i = 0; i < d.threads.size(); ++i) {
    const ThreadEntry& e = d.threads[i].entry;
    out += fmt::format(
        "{}{{\"tid\": {}, \"serial\": {}, \"name\": {}, \"state\": \"{}\", \"main\": {}, \"parent_tid\": {}, "
        "\"orphan\": {}, \"detached\": {}, \"joined\": {}, \"creator\": {}, \"start_routine\": {}, \"openmp\": {}, "
        "\"stack_size\": {}, \"created\": {}, \"exited\": {}, \"live_bytes\": {}, \"live_blocks\": {}, "
        "\"alloc_bytes\": {}}}",
        i == 0 ? "\n  " : ",\n  ", e.tid, e.serial, Quote(e.name), e.state, e.main ? "true" : "false",
        e.parent_tid != 0 ? fmt::format("{}", e.parent_tid) : "null", e.orphan ? "true" : "false",
        e.detached ? "true" : "false", e.joined ? "true" : "false",
        d.threads[i].creator_index >= 0 ? fmt::format("{}", d.threads[i].creator_index) : "null",
        OrNull(d.threads[i].start_routine), OrNull(d.threads[i].openmp), e.stack_size, Seconds(e.created_s),
        Seconds(e.exited_s), e.live_bytes, e.live_blocks, e.alloc_bytes);
  }
  out += "],\n \"by_creator\": [";
  for (size_t i = 0; i < d.creators.size(); ++i) {
    const DocCreator& c = d.creators[i];
    out += fmt::format(
        "{}{{\"threads_created\": {}, \"threads_alive\": {}, \"threads_exited\": {}, \"threads_exited_unjoined\": {}, "
        "\"live_bytes\": {}, \"exited_live_bytes\": {}, \"exited_by_site\": [",
        i == 0 ? "\n  " : ",\n  ", c.stats.created, c.stats.alive, c.stats.exited, c.stats.exited_unjoined,
        c.stats.live_bytes, c.stats.exited_live_bytes);
    for (size_t k = 0; k < c.exited_by_site.size(); ++k) {
      out += fmt::format("{}{{\"stack_id\": {}, \"space\": \"{}\", \"live_bytes\": {}}}", k == 0 ? "" : ", ",
                         c.exited_by_site[k].stack_id, c.exited_by_site[k].space, c.exited_by_site[k].live_bytes);
    }
    out += "], \"creator_frames\": " + FramesJson(c.frames) + "}";
  }
  const DocOpenMP& omp = d.openmp;
  out += fmt::format(
      "],\n \"openmp\": {{\"pools\": {}, \"host_threads\": {}, \"hosts_exited\": {}, \"workers\": {}, "
      "\"workers_alive\": {}, \"worker_live_bytes\": {}, \"team_live_bytes\": {}, \"pools_detail\": [",
      omp.pools.size(), omp.pools.size(), omp.hosts_exited, omp.workers, omp.workers_alive, omp.worker_live_bytes,
      omp.team_live_bytes);
  for (size_t i = 0; i < omp.pools.size(); ++i) {
    const DocOpenMP::Pool& p = omp.pools[i];
    out += fmt::format(
        "{}{{\"host_tid\": {}, \"host_state\": \"{}\", \"host_live_bytes\": {}, \"workers\": {}, "
        "\"workers_alive\": {}, \"worker_live_bytes\": {}, \"runtime\": \"{}\"}}",
        i == 0 ? "" : ", ", p.host_tid, p.host_state, p.host_live_bytes, p.workers, p.workers_alive,
        p.worker_live_bytes, p.runtime);
  }
  out += "]},\n \"devices\": [";
  for (size_t i = 0; i < d.devices.size(); ++i) {
    out += fmt::format("{}{{\"ordinal\": {}, \"live_bytes\": {}, \"live_blocks\": {}}}", i == 0 ? "" : ", ",
                       d.devices[i].ordinal, d.devices[i].live_bytes, d.devices[i].live_blocks);
  }
  out += fmt::format("],\n \"cuda\": {{\"runtime_hooks\": {}, \"cupti\": {}, \"reason\": {}}},\n \"modules\": [",
                     d.cuda.runtime_hooks ? "true" : "false", d.cuda.cupti ? "true" : "false", Quote(d.cuda.reason));
  for (size_t i = 0; i < d.modules.size(); ++i) {
    out += fmt::format("{}{{\"path\": {}, \"build_id\": {}}}", i == 0 ? "" : ", ", Quote(d.modules[i].path),
                       OrNull(d.modules[i].build_id));
  }
  out += "],\n \"timeline\": [";
  for (size_t i = 0; i < d.timeline.size(); ++i) {
    const TimelinePoint& p = d.timeline[i];
    out += fmt::format(
        "{}{{\"t\": {:.3f}, \"live_bytes\": {}, \"heap_bytes\": {}, \"anon_mmap_bytes\": {}, \"file_mmap_bytes\": {}, "
        "\"cuda_device_bytes\": {}, \"cuda_host_pinned_bytes\": {}, \"cuda_managed_bytes\": {}, "
        "\"rss_bytes\": {}, \"glibc_free_bytes\": {}, \"glibc_mmapped_bytes\": {}, \"glibc_arenas\": {}, \"mark\": {}}}",
        i == 0 ? "\n  " : ",\n  ", p.t, p.live_bytes, p.space_bytes[0], p.space_bytes[1], p.space_bytes[2],
        p.space_bytes[3], p.space_bytes[4], p.space_bytes[5], p.rss_bytes,
        p.glibc_known ? fmt::format("{}", p.glibc_free_bytes) : "null",
        p.glibc_known ? fmt::format("{}", p.glibc_mmapped_bytes) : "null",
        p.glibc_known ? fmt::format("{}", p.glibc_arenas) : "null", OrNull(p.mark));
  }
  const TracerStats& tr = d.tracer;
  out += fmt::format(
      "],\n \"tracer\": {{\"events\": {}, \"ring_stalls\": {}, \"dropped_events\": {}, \"memory_bytes\": {}, "
      "\"watcher_memory_bytes\": {}, \"live_table_bytes\": {}, \"stacks\": {}, \"threads\": {}, \"untraced_threads\": {}, "
      "\"own_block_frees\": {}, \"clock\": {}, \"fence\": {}, \"unwinder\": {}}}}}\n",
      tr.events, tr.ring_stalls, tr.dropped_events, tr.memory_bytes, tr.watcher_memory_bytes, tr.live_table_bytes,
      tr.stacks, tr.threads_seen,
      tr.untraced_threads, t.heap.tracer_frees, Quote(tr.clock), Quote(tr.fence), Quote(tr.unwinder));
  return out;
}

}  // namespace memtrace
