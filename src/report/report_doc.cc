// Snapshot -> document: symbolization and the per-site view (see report_doc.h).
#include "src/report/report_doc.h"

#include "absl/container/flat_hash_map.h"

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
  d.devices = s.devices;
  d.cuda = s.cuda;
  d.end = s.end;
  d.sites.reserve(s.sites.size());
  for (const SiteEntry& e : s.sites) {
    DocSite site;
    site.stats = e.stats;
    site.space = SpaceName(e.space);
    site.stack_id = e.stack != nullptr ? static_cast<int64_t>(e.stack->id) : -1;
    site.growth_bytes = e.growth_bytes;
    site.growth_blocks = e.growth_blocks;
    site.files = e.files;
    site.threads = e.threads;
    site.device = e.device;
    site.frames = SymbolizeStack(e.stack, symbolizer);
    d.sites.push_back(std::move(site));
  }
  // Creators first: threads refer to them.
  absl::flat_hash_map<const StackRecord*, int64_t> creator_index;
  for (const CreatorEntry& c : s.creators) {
    DocCreator dc;
    dc.stats = c;
    dc.frames = SymbolizeStack(c.creator, symbolizer);
    for (const CreatorEntry::BySite& b : c.exited_by_site) {
      dc.exited_by_site.push_back(
          DocCreator::BySite{b.stack != nullptr ? static_cast<int64_t>(b.stack->id) : -1, SpaceName(b.space), b.live_bytes});
    }
    creator_index[c.creator] = static_cast<int64_t>(d.creators.size());
    d.creators.push_back(std::move(dc));
  }
  d.thread_totals = s.thread_totals;
  // An OpenMP worker: its start routine is libgomp's gomp_thread_start or
  // LLVM libomp's __kmp_launch_worker, or, in a stripped runtime, any routine
  // of the runtime library (the only threads these libraries start).
  auto openmp_runtime = [&symbolizer](uint64_t routine) -> std::string {
    std::string fn = symbolizer.FunctionAt(routine);
    if (fn == "gomp_thread_start") return "libgomp";
    if (fn == "__kmp_launch_worker") return "libomp";
    std::string module = symbolizer.ModuleAt(routine);
    std::string base = module.substr(module.rfind('/') + 1);
    if (base.rfind("libgomp", 0) == 0) return "libgomp";
    if (base.rfind("libomp", 0) == 0 || base.rfind("libiomp", 0) == 0) return "libomp";
    return {};
  };
  for (const ThreadEntry& t : s.threads) {
    DocThread dt;
    dt.entry = t;
    auto ci = creator_index.find(t.creator);
    dt.creator_index = ci != creator_index.end() ? ci->second : -1;
    dt.start_routine = symbolizer.FunctionAt(t.start_routine);
    dt.openmp = openmp_runtime(t.start_routine);
    d.threads.push_back(std::move(dt));
  }
  // A pool: the OpenMP workers one host thread created.
  for (const ThreadGroup& g : s.groups) {
    std::string runtime = openmp_runtime(g.start_routine);
    if (runtime.empty()) continue;
    DocOpenMP::Pool pool;
    pool.host_tid = g.parent_tid;
    pool.host_state = g.parent_state;
    pool.host_live_bytes = g.parent_live_bytes;
    pool.workers = g.threads;
    pool.workers_alive = g.alive;
    pool.worker_live_bytes = g.live_bytes;
    pool.runtime = runtime;
    d.openmp.pools.push_back(pool);
  }
  for (const DocOpenMP::Pool& p : d.openmp.pools) {
    if (p.host_state != "alive") ++d.openmp.hosts_exited;
    d.openmp.workers += p.workers;
    d.openmp.workers_alive += p.workers_alive;
    d.openmp.worker_live_bytes += p.worker_live_bytes;
    d.openmp.team_live_bytes += p.worker_live_bytes + p.host_live_bytes;
  }
  d.modules = symbolizer.modules();
  return d;
}

}  // namespace memtrace
