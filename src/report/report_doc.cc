// Snapshot -> document: symbolization, frame interning, sites merged by what
// a person reads, and the listing bound (see report_doc.h).
//
// Why merge after symbolizing: the flusher interns stacks by return
// addresses, so one source line reached through two call instructions (an
// unrolled loop, two inlined copies) is two stacks. People read sites as
// source locations, as heaptrack, pprof -lines and memray show them, and two
// reports of one run must compare without phantom changes; so the document
// keys a site by its frames as printed and keeps the stack ids it merged.
#include "src/report/report_doc.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "src/report/allocator_label.h"

#ifndef MEMTRACE_VERSION
#error "MEMTRACE_VERSION must come from CMake's project version"
#endif

namespace memtrace {

const char* MemtraceVersion() { return MEMTRACE_VERSION; }

std::string FrameKey(const Frame& f) {
  // \x1f separates the fields: no compiler puts it in a symbol or a path.
  if (!f.file.empty()) {
    return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", f.function, f.file, f.line, f.module, f.inlined ? 1 : 0);
  }
  return fmt::format("{}\x1f@{}\x1f{:x}\x1f{}", f.function, f.module, f.offset, f.inlined ? 1 : 0);
}

std::string SiteKey(const ReportDoc& doc, const DocSite& site) {
  std::string key = fmt::format("{}#{}", site.space, site.device);
  for (uint32_t id : site.frames) {
    key += '\x1e';
    key += FrameKey(doc.frames[id]);
  }
  return key;
}

uint64_t ReportDoc::site_count() const {
  uint64_t n = sites.size();
  for (const DocOmitted& o : omitted) n += o.sites;
  return n;
}

namespace {

void AddStats(SiteStats* to, const SiteStats& from) {
  to->live_bytes += from.live_bytes;
  to->live_blocks += from.live_blocks;
  to->allocs += from.allocs;
  to->frees += from.frees;
  to->alloc_bytes += from.alloc_bytes;
  to->peak_live_bytes += from.peak_live_bytes;
}

void AddCount(LeakCount* to, const LeakCount& from) {
  to->bytes += from.bytes;
  to->blocks += from.blocks;
}

void AddKinds(std::optional<LeakKinds>* to, const std::optional<LeakKinds>& from) {
  if (!from) return;
  if (!*to) *to = LeakKinds{};
  AddCount(&(*to)->definite, from->definite);
  AddCount(&(*to)->indirect, from->indirect);
  AddCount(&(*to)->possible, from->possible);
  AddCount(&(*to)->reachable, from->reachable);
  AddCount(&(*to)->suppressed, from->suppressed);
}

void AddCost(std::optional<MappingCost>* to, const std::optional<MappingCost>& from) {
  if (!from) return;
  if (!*to) *to = MappingCost{};
  (*to)->reserved_bytes += from->reserved_bytes;
  (*to)->committed_bytes += from->committed_bytes;
  (*to)->resident_bytes += from->resident_bytes;
}

// Frames, each interned once, and each return address symbolized and
// interned once: a stack is then a few hash lookups, whatever its depth
// (131,072 distinct stacks of ~20 frames: see docs/benchmarks.md). A frame
// keeps its own address (offset), so `addr2line` and pprof can symbolize it
// again; two frames that differ only in the address read the same and share
// a "reading" id, which is what sites are merged by.
class FrameTable {
 public:
  uint32_t Intern(const Frame& frame) {
    std::string exact = FrameKey(frame) + fmt::format("\x1f{:x}", frame.offset);
    auto [it, inserted] = index_.try_emplace(std::move(exact), static_cast<uint32_t>(frames_.size()));
    if (inserted) {
      frames_.push_back(frame);
      auto [r, unused] = reading_index_.try_emplace(FrameKey(frame), static_cast<uint32_t>(reading_index_.size()));
      reading_.push_back(r->second);
    }
    return it->second;
  }
  // The frames of an allocation site, as SymbolizeStack gives them (each
  // return address with its inlined calls, leading operator new frames left
  // out; report_doc_test checks the two agree).
  std::vector<uint32_t> InternStack(const StackRecord* stack, Symbolizer& symbolizer) {
    std::vector<uint32_t> ids;
    if (stack == nullptr) return ids;
    stack->ForEachFrame([&](uintptr_t address) {
      auto [it, inserted] = by_address_.try_emplace(address);
      if (inserted) {
        for (const Frame& f : symbolizer.Symbolize(address)) it->second.push_back(Intern(f));
      }
      ids.insert(ids.end(), it->second.begin(), it->second.end());
    });
    size_t skip = 0;
    while (skip + 1 < ids.size() && absl::StartsWith(frames_[ids[skip]].function, "operator new")) ++skip;
    ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(skip));
    return ids;
  }
  // What a person reads of these frames: equal for stacks that read the same.
  std::vector<uint32_t> Reading(const std::vector<uint32_t>& ids) const {
    std::vector<uint32_t> out;
    out.reserve(ids.size());
    for (uint32_t id : ids) out.push_back(reading_[id]);
    return out;
  }
  const Frame& at(uint32_t id) const { return frames_[id]; }

 private:
  std::vector<Frame> frames_;
  std::vector<uint32_t> reading_;  // per frame: its reading id
  absl::flat_hash_map<std::string, uint32_t> index_;          // exact key -> frame
  absl::flat_hash_map<std::string, uint32_t> reading_index_;  // FrameKey -> reading id
  absl::flat_hash_map<uintptr_t, std::vector<uint32_t>> by_address_;
};

struct MergeKey {
  Space space;
  int device;
  std::vector<uint32_t> frames;  // reading ids
  bool operator==(const MergeKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const MergeKey& k) {
    return H::combine(std::move(h), k.space, k.device, k.frames);
  }
};

// Sites first by live bytes, then by what they allocated, then by their
// first stack: a total order, so a report and its round trip list sites
// identically.
bool SiteBefore(const DocSite& a, const DocSite& b) {
  if (a.stats.live_bytes != b.stats.live_bytes) return a.stats.live_bytes > b.stats.live_bytes;
  if (a.stats.alloc_bytes != b.stats.alloc_bytes) return a.stats.alloc_bytes > b.stats.alloc_bytes;
  if (a.stats.allocs != b.stats.allocs) return a.stats.allocs > b.stats.allocs;
  return a.stack_ids < b.stack_ids;
}

}  // namespace

ReportDoc BuildReportDoc(const Snapshot& s, Symbolizer& symbolizer, const DocOptions& options) {
  ReportDoc d;
  d.version = MemtraceVersion();
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
  d.suppressions_used = s.suppressions_used;
  d.leak_scan = s.leak_scan;
  d.max_sites = options.max_sites;

  // Every stack is symbolized (the symbolizer caches per address, so the
  // cost follows distinct return addresses, not stacks) and its site merged
  // with the others that read the same.
  FrameTable table;
  std::vector<DocSite> merged;
  merged.reserve(s.sites.size());
  absl::flat_hash_map<MergeKey, size_t> merged_index;
  absl::flat_hash_map<std::pair<int64_t, int>, size_t> site_of_stack;  // (stack id, space) -> merged site
  for (const SiteEntry& e : s.sites) {
    // The first stack of a merged site gives its frames (real addresses);
    // the others read the same.
    std::vector<uint32_t> frames = table.InternStack(e.stack, symbolizer);
    MergeKey key{e.space, e.device, table.Reading(frames)};
    auto [it, inserted] = merged_index.try_emplace(std::move(key), merged.size());
    if (inserted) {
      DocSite site;
      site.space = SpaceName(e.space);
      site.device = e.device;
      site.frames = std::move(frames);
      merged.push_back(std::move(site));
    }
    size_t at = it->second;
    DocSite& site = merged[at];
    int64_t stack_id = e.stack != nullptr ? static_cast<int64_t>(e.stack->id) : -1;
    site.stack_ids.push_back(stack_id);
    site_of_stack[{stack_id, static_cast<int>(e.space)}] = at;
    AddStats(&site.stats, e.stats);
    site.growth_bytes += e.growth_bytes;
    site.growth_blocks += e.growth_blocks;
    if (site.label.empty()) site.label = e.label;
    AddKinds(&site.leak_kinds, e.leak_kinds);
    AddCost(&site.cost, e.cost);
    site.files.insert(site.files.end(), e.files.begin(), e.files.end());
    for (const auto& [tid, bytes] : e.threads) site.threads.push_back(ThreadShare{tid, bytes});
  }
  // Mappings of known allocators and runtimes (allocator_label.h).
  for (DocSite& site : merged) {
    if (!site.label.empty() || (site.space != "anon_mmap" && site.space != "file_mmap")) continue;
    std::vector<const Frame*> frames;
    frames.reserve(site.frames.size());
    for (uint32_t id : site.frames) frames.push_back(&table.at(id));
    site.label = AllocatorLabel(frames);
  }
  for (DocSite& site : merged) {
    if (site.stack_ids.size() < 2) continue;  // one stack: already one entry per file and thread, largest first
    std::sort(site.stack_ids.begin(), site.stack_ids.end());
    std::map<std::string, uint64_t> files;
    for (const FileShare& f : site.files) files[f.path] += f.live_bytes;
    site.files.clear();
    for (const auto& [path, bytes] : files) site.files.push_back(FileShare{path, bytes});
    std::stable_sort(site.files.begin(), site.files.end(),
                     [](const FileShare& a, const FileShare& b) { return a.live_bytes > b.live_bytes; });
    std::map<uint64_t, uint64_t> threads;
    for (const ThreadShare& t : site.threads) threads[t.tid] += t.live_bytes;
    site.threads.clear();
    for (const auto& [tid, bytes] : threads) site.threads.push_back(ThreadShare{tid, bytes});
    std::stable_sort(site.threads.begin(), site.threads.end(),
                     [](const ThreadShare& a, const ThreadShare& b) { return a.live_bytes > b.live_bytes; });
    if (site.threads.size() > 16) site.threads.resize(16);
  }
  // Sort, keep the largest, fold the rest into one remainder per space.
  std::vector<size_t> order(merged.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return SiteBefore(merged[a], merged[b]); });
  size_t listed = options.max_sites == 0 ? order.size() : std::min(order.size(), options.max_sites);
  std::vector<int64_t> listed_index(merged.size(), -1);
  for (size_t k = 0; k < order.size(); ++k) {
    DocSite& site = merged[order[k]];
    if (k < listed) {
      listed_index[order[k]] = static_cast<int64_t>(k);
      continue;
    }
    auto o = std::find_if(d.omitted.begin(), d.omitted.end(), [&](const DocOmitted& x) { return x.space == site.space; });
    if (o == d.omitted.end()) {
      DocOmitted fresh;
      fresh.space = site.space;
      d.omitted.push_back(std::move(fresh));
      o = d.omitted.end() - 1;
    }
    ++o->sites;
    o->stacks += site.stack_ids.size();
    AddStats(&o->stats, site.stats);
    o->growth_bytes += site.growth_bytes;
    o->growth_blocks += site.growth_blocks;
    AddKinds(&o->leak_kinds, site.leak_kinds);
  }
  std::sort(d.omitted.begin(), d.omitted.end(), [](const DocOmitted& a, const DocOmitted& b) {
    return a.stats.live_bytes != b.stats.live_bytes ? a.stats.live_bytes > b.stats.live_bytes : a.space < b.space;
  });

  // The frame table keeps only what listed sites and creators use, numbered
  // in first use.
  std::vector<int64_t> renumber;
  auto keep = [&](std::vector<uint32_t>& ids) {
    for (uint32_t& id : ids) {
      if (id >= renumber.size()) renumber.resize(id + 1, -1);
      if (renumber[id] < 0) {
        renumber[id] = static_cast<int64_t>(d.frames.size());
        d.frames.push_back(table.at(id));
      }
      id = static_cast<uint32_t>(renumber[id]);
    }
  };
  d.sites.reserve(listed);
  for (size_t k = 0; k < listed; ++k) {
    d.sites.push_back(std::move(merged[order[k]]));
    keep(d.sites.back().frames);
  }

  // Creators first: threads refer to them.
  absl::flat_hash_map<const StackRecord*, int64_t> creator_index;
  for (const CreatorEntry& c : s.creators) {
    DocCreator dc;
    dc.created = c.created;
    dc.alive = c.alive;
    dc.exited = c.exited;
    dc.exited_unjoined = c.exited_unjoined;
    dc.live_bytes = c.live_bytes;
    dc.exited_live_bytes = c.exited_live_bytes;
    dc.frames = table.InternStack(c.creator, symbolizer);
    keep(dc.frames);
    for (const CreatorEntry::BySite& b : c.exited_by_site) {
      int64_t stack_id = b.stack != nullptr ? static_cast<int64_t>(b.stack->id) : -1;
      std::string space = SpaceName(b.space);
      auto found = site_of_stack.find(std::make_pair(stack_id, static_cast<int>(b.space)));
      int64_t site = found != site_of_stack.end() ? listed_index[found->second] : -1;
      auto same = std::find_if(dc.exited_by_site.begin(), dc.exited_by_site.end(),
                               [&](const DocCreator::BySite& x) { return x.site == site && x.space == space; });
      if (same != dc.exited_by_site.end()) same->live_bytes += b.live_bytes;
      else dc.exited_by_site.push_back(DocCreator::BySite{site, space, b.live_bytes});
    }
    std::stable_sort(dc.exited_by_site.begin(), dc.exited_by_site.end(),
                     [](const DocCreator::BySite& a, const DocCreator::BySite& b) { return a.live_bytes > b.live_bytes; });
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
  // Modules: those the listed frames name, with their build-ids.
  absl::flat_hash_map<std::string, std::string> build_ids;
  for (const ModuleInfo& m : symbolizer.modules()) build_ids[m.path] = m.build_id;
  absl::flat_hash_map<std::string, size_t> module_seen;
  for (const Frame& f : d.frames) {
    if (f.module.empty() || !module_seen.try_emplace(f.module, d.modules.size()).second) continue;
    auto b = build_ids.find(f.module);
    d.modules.push_back(ModuleInfo{f.module, b != build_ids.end() ? b->second : std::string()});
  }
  return d;
}

}  // namespace memtrace
