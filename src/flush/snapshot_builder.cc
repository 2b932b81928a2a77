// Snapshots: the flusher's tables copied into the report's data model
// (src/report/snapshot.h) at one instant -- sites with growth since the
// previous report, per-space and per-device totals, threads and their
// creators, OpenMP groups, file paths of live mappings, the timeline and the
// tracer's own cost. Part of class Flusher (in the watcher process: the
// traced process is options_.pid, never this one).
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "src/capture/clock.h"
#include "src/capture/os_memory.h"
#include "src/capture/predating.h"
#include "src/capture/region.h"
#include "src/capture/stack_depot.h"
#include "src/capture/start_info.h"
#include "src/flush/flusher.h"
#include "src/flush/proc_maps.h"
#include "src/flush/residency.h"
#include "src/log.h"

namespace memtrace {

Snapshot Flusher::BuildSnapshot(const char* reason, const GlibcStats& glibc) {
  Snapshot s;
  s.reason = reason;
  s.sequence = ++sequence_;
  s.pid = options_.pid;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  s.time_unix_ms = static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
  AppendTimeline(MakePoint("", glibc));
  s.rss_bytes = timeline_.back().rss_bytes;
  Totals& t = s.totals;
  for (int sp = 0; sp < kSpaceCount; ++sp) {
    const SiteStats& st = sites_.space_totals(static_cast<Space>(sp));
    t.spaces[sp] = st;
    t.live_bytes += st.live_bytes;
    t.live_blocks += st.live_blocks;
    t.allocs += st.allocs;
    t.frees += st.frees;
    t.alloc_bytes += st.alloc_bytes;
  }
  t.peak_live_bytes = sites_.peak_live_bytes();
  t.heap = heap_.counters();
  // Device memory per device ordinal.
  for (size_t i = 0; i < sites_.size(); ++i) {
    if (sites_.space_of(i) != Space::kCudaDevice) continue;
    int dev = sites_.device_of(i);
    auto d = std::find_if(s.devices.begin(), s.devices.end(), [dev](const DeviceTotals& x) { return x.ordinal == dev; });
    if (d == s.devices.end()) {
      s.devices.push_back(DeviceTotals{dev, 0, 0});
      d = s.devices.end() - 1;
    }
    d->live_bytes += sites_.site(i).live_bytes;
    d->live_blocks += sites_.site(i).live_blocks;
  }
  std::sort(s.devices.begin(), s.devices.end(), [](auto& a, auto& b) { return a.ordinal < b.ordinal; });
  if (cuda_status_) s.cuda = cuda_status_();
  t.untracked_unmap_bytes = maps_.untracked_unmap_bytes();
  bool has_file_sites = false;
  reported_.resize(sites_.size());
  std::vector<size_t> order;  // listed site indices
  for (size_t i = 0; i < sites_.size(); ++i) {
    const SiteStats& st = sites_.site(i);
    if (st.live_blocks > 0 || (options_.all_sites && st.allocs > 0)) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [this](size_t x, size_t y) {
    const SiteStats& a = sites_.site(x);
    const SiteStats& b = sites_.site(y);
    if (a.live_bytes != b.live_bytes) return a.live_bytes > b.live_bytes;
    if (a.live_blocks != b.live_blocks) return a.live_blocks > b.live_blocks;
    return a.allocs > b.allocs;
  });
  std::vector<std::optional<MappingCost>> cost = MappingCosts(t);
  std::vector<size_t> entry_of_site(sites_.size(), SIZE_MAX);
  for (size_t i : order) {
    const SiteStats& st = sites_.site(i);
    SiteEntry e{sites_.stack_of(i), sites_.space_of(i), st, {}, 0, 0, {}, sites_.device_of(i), {}, cost[i], {}};
    e.growth_bytes = static_cast<int64_t>(st.live_bytes) - static_cast<int64_t>(reported_[i].live_bytes);
    e.growth_blocks = static_cast<int64_t>(st.live_blocks) - static_cast<int64_t>(reported_[i].live_blocks);
    has_file_sites |= e.space == Space::kFileMmap && st.live_blocks > 0;
    entry_of_site[i] = s.sites.size();
    s.sites.push_back(std::move(e));
  }
  for (size_t i = 0; i < sites_.size(); ++i) reported_[i] = sites_.site(i);
  AttachThreads(s, entry_of_site);
  AttachScan(s, entry_of_site);
  std::vector<ProcMapping> proc = ProcMappings();
  for (const ProcMapping& m : proc) {
    if (g_region.active() && m.start < g_region.base() + g_region.size() && m.end > g_region.base()) continue;  // ours
    if (m.path.empty() || m.path[0] == '[') {
      if (m.path.empty() || m.path == "[heap]" || m.path.rfind("[stack", 0) == 0) t.process_anon_bytes += m.end - m.start;
    } else {
      t.process_file_bytes += m.end - m.start;
    }
  }
  AttachPredatingMappings(t, proc);
  if (has_file_sites) AttachFilePaths(s, proc);
  s.timeline.assign(timeline_.begin(), timeline_.end());

  TracerStats& tr = s.tracer;
  tr.events = events_;
  tr.ring_stalls = slots_->counters().ring_stalls.load(std::memory_order_relaxed);
  tr.dropped_events = slots_->counters().dropped_events.load(std::memory_order_relaxed);
  tr.untraced_threads = slots_->counters().slot_exhausted.load(std::memory_order_relaxed);
  tr.stacks = g_depot.id_bound();
  tr.threads_seen = threads_.seen();
  // The program's share: the region (rings, memos, stacks) and the pages the
  // tracer mapped privately at start-up (unwind cache, sampling table).
  tr.memory_bytes = g_region.CommittedBytes() + options_.program_private_bytes;
  if (watcher_memory_) tr.watcher_memory_bytes = watcher_memory_();
  tr.sample_bytes = options_.sample_bytes;
  tr.sample_overflows = g_region.active() ? g_region.header()->sample_overflows.load(std::memory_order_relaxed) : 0;
  tr.clock = options_.clock_name;
  tr.fence = options_.fence_name;
  tr.unwinder = options_.unwinder_name;
  tr.live_table_bytes = heap_.table_bytes() + cuda_.table_bytes();
  if (const StartInfo* info = g_start_info) {
    uint32_t n = std::min(info->deepbind_count.load(std::memory_order_acquire), StartInfo::kMaxDeepbind);
    for (uint32_t i = 0; i < n; ++i) {
      const DeepbindRecord& r = info->deepbind[i];
      if (!tr.deepbind) tr.deepbind.emplace();
      tr.deepbind->push_back(DeepbindLibrary{std::string(r.path, strnlen(r.path, sizeof(r.path))),
                                             r.redirected.load(std::memory_order_relaxed),
                                             r.caught_up.load(std::memory_order_acquire) != 0});
    }
  }
  return s;
}

void Flusher::AttachThreads(Snapshot& s, const std::vector<size_t>& entry_of_site) const {
  const std::vector<ThreadRecord>& threads = threads_.threads();
  // Live bytes per (site, thread), from every live block and mapping.
  absl::flat_hash_map<uint64_t, uint64_t> by_site_thread;
  auto key = [](uint32_t site, uint32_t thread) { return (static_cast<uint64_t>(site) << 32) | thread; };
  auto add = [&](uint64_t, const LiveBlock& b) { by_site_thread[key(b.site, b.thread)] += b.size; };
  heap_.live().ForEach(add);
  cuda_.live().ForEach(add);
  for (const auto& [start, m] : maps_.mappings()) by_site_thread[key(m.site, m.thread)] += m.end - start;

  // Creators.
  absl::flat_hash_map<const StackRecord*, size_t> creator_index;
  auto creator_of = [&](const StackRecord* c) -> CreatorEntry& {
    auto [it, inserted] = creator_index.try_emplace(c, s.creators.size());
    if (inserted) {
      s.creators.emplace_back();
      s.creators.back().creator = c;
    }
    return s.creators[it->second];
  };
  ThreadTotals& tt = s.thread_totals;
  int main_pid = options_.pid;
  std::vector<size_t> listed;
  for (uint32_t t = 1; t < threads.size(); ++t) {
    const ThreadRecord& r = threads[t];
    if (!r.in_use) continue;
    bool unjoined = r.exited && !r.joined && !r.detached && r.tid != static_cast<uint64_t>(main_pid);
    ++tt.seen;
    if (r.exited) ++tt.exited;
    else ++tt.alive;
    if (unjoined) {
      ++tt.exited_unjoined;
      tt.unjoined_stack_bytes += r.stack_size;
    }
    bool orphan = !r.exited && (r.parent_folded || (r.parent != 0 && threads[r.parent].exited));
    if (orphan) ++tt.orphans;
    if (r.exited) tt.exited_thread_live_bytes += r.live_bytes;
    CreatorEntry& c = creator_of(r.creator);
    ++c.created;
    if (r.exited) ++c.exited;
    else ++c.alive;
    if (unjoined) ++c.exited_unjoined;
    c.live_bytes += r.live_bytes;
    if (r.exited) c.exited_live_bytes += r.live_bytes;
    if (!r.exited || unjoined || r.live_bytes > 0) {
      ThreadEntry e;
      e.tid = r.tid;
      e.serial = r.serial;
      e.name = r.name;
      e.state = !r.exited ? "alive" : unjoined ? "exited_unjoined" : "exited";
      e.parent_tid = r.parent != 0 ? threads[r.parent].tid : r.parent_folded ? r.parent_tid_folded : 0;
      e.orphan = orphan;
      e.main = r.tid == static_cast<uint64_t>(main_pid);
      e.detached = r.detached;
      e.joined = r.joined;
      e.creator = r.creator;
      e.start_routine = r.start_routine;
      e.stack_size = r.stack_size;
      e.created_s = static_cast<double>(ClockToNanos(r.start_ts)) / 1e9;
      e.exited_s = r.exited ? static_cast<double>(ClockToNanos(r.exit_ts)) / 1e9 : -1;
      e.live_bytes = r.live_bytes;
      e.live_blocks = r.live_blocks;
      e.alloc_bytes = r.alloc_bytes;
      e.predates_tracing = r.predates_tracing;
      s.threads.push_back(std::move(e));
    }
  }
  if (g_predating.recorded()) tt.predating = g_predating.threads();
  // Folded threads (exited, joined or detached, holding nothing): counts only.
  tt.seen += threads_.folded().count;
  tt.exited += threads_.folded().count;
  for (const auto& [creator, n] : threads_.folded().by_creator) {
    CreatorEntry& c = creator_of(creator);
    c.created += n;
    c.exited += n;
  }
  // Groups by (start routine, parent), the parent known by its serial.
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, size_t> group_index;
  auto group_of = [&](uint64_t start_routine, uint32_t parent_serial, uint64_t folded_parent_tid) -> ThreadGroup& {
    auto [it, inserted] = group_index.try_emplace(std::make_pair(start_routine, parent_serial), s.groups.size());
    if (inserted) {
      ThreadGroup g;
      g.start_routine = start_routine;
      if (const ThreadRecord* p = parent_serial != 0 ? threads_.BySerial(parent_serial) : nullptr) {
        g.parent_tid = p->tid;
        bool p_unjoined = p->exited && !p->joined && !p->detached;
        g.parent_state = !p->exited ? "alive" : p_unjoined ? "exited_unjoined" : "exited";
        g.parent_live_bytes = p->live_bytes;
      } else if (parent_serial != 0) {
        g.parent_tid = folded_parent_tid;  // folded: exited, joined or detached, holding nothing
      }
      s.groups.push_back(g);
    }
    return s.groups[it->second];
  };
  for (uint32_t t = 1; t < threads.size(); ++t) {
    const ThreadRecord& r = threads[t];
    if (!r.in_use || !r.created_by_hook) continue;
    ThreadGroup& g = group_of(r.start_routine, r.parent_serial, r.parent_tid_folded);
    ++g.threads;
    if (!r.exited) ++g.alive;
    g.live_bytes += r.live_bytes;
  }
  for (const auto& [key, folded] : threads_.folded().by_group) {
    group_of(key.first, key.second, folded.parent_tid).threads += folded.threads;
  }
  std::stable_sort(s.threads.begin(), s.threads.end(),
                   [](const ThreadEntry& a, const ThreadEntry& b) { return a.live_bytes > b.live_bytes; });
  if (s.threads.size() > kMaxListedThreads) {
    tt.omitted = s.threads.size() - kMaxListedThreads;
    s.threads.resize(kMaxListedThreads);
  }
  tt.listed = s.threads.size();

  // Each listed site's threads; exited threads' memory by creator and site.
  absl::flat_hash_map<uint64_t, uint64_t> exited_by_creator_site;  // (creator entry, site) -> bytes
  for (const auto& [k, bytes] : by_site_thread) {
    uint32_t site = static_cast<uint32_t>(k >> 32), t = static_cast<uint32_t>(k);
    if (bytes == 0) continue;
    if (site < entry_of_site.size() && entry_of_site[site] != SIZE_MAX) {
      s.sites[entry_of_site[site]].threads.emplace_back(threads[t].tid, bytes);
    }
    if (t != 0 && threads[t].exited) {
      size_t c = creator_index.at(threads[t].creator);
      exited_by_creator_site[(static_cast<uint64_t>(c) << 32) | site] += bytes;
    }
  }
  for (SiteEntry& e : s.sites) {
    std::sort(e.threads.begin(), e.threads.end(), [](auto& a, auto& b) { return a.second > b.second; });
    if (e.threads.size() > 16) e.threads.resize(16);
  }
  for (const auto& [k, bytes] : exited_by_creator_site) {
    uint32_t c = static_cast<uint32_t>(k >> 32), site = static_cast<uint32_t>(k);
    s.creators[c].exited_by_site.push_back(CreatorEntry::BySite{sites_.stack_of(site), sites_.space_of(site), bytes});
  }
  for (CreatorEntry& c : s.creators) {
    std::sort(c.exited_by_site.begin(), c.exited_by_site.end(),
              [](auto& a, auto& b) { return a.live_bytes > b.live_bytes; });
  }
  std::stable_sort(s.creators.begin(), s.creators.end(), [](const CreatorEntry& a, const CreatorEntry& b) {
    if (a.live_bytes != b.live_bytes) return a.live_bytes > b.live_bytes;
    return a.created > b.created;
  });
}

std::vector<std::optional<MappingCost>> Flusher::MappingCosts(Totals& t) const {
  std::vector<std::optional<MappingCost>> cost(sites_.size());
  // After the process ended (the watcher then hands us its last maps) no
  // page is resident any more: the cost is not measured.
  if (maps_text_ != nullptr || options_.pid <= 0) return cost;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  ranges.reserve(maps_.mappings().size());
  for (const auto& [start, m] : maps_.mappings()) ranges.emplace_back(start, m.end);
  Residency residency(options_.pid);
  std::optional<std::vector<uint64_t>> resident = residency.Measure(ranges);
  if (!resident) return cost;
  const ResidencyStats& rs = residency.stats();
  MT_LOG_DEBUG("resident bytes of %zu mappings: %llu kernel mappings, %llu pages counted (%s), %llu bytes of pagemap read",
               ranges.size(), static_cast<unsigned long long>(rs.vmas), static_cast<unsigned long long>(rs.pages_scanned),
               rs.scan_ioctl ? "PAGEMAP_SCAN" : "entries", static_cast<unsigned long long>(rs.bytes_read));
  if (residency.stats().over_budget) {
    MT_LOG_WARN("resident bytes of some mappings were apportioned from their kernel mapping, not counted page by page");
  }
  for (Space sp : {Space::kAnonMmap, Space::kFileMmap}) t.space_cost[static_cast<int>(sp)] = MappingCost{};
  size_t k = 0;
  for (const auto& [start, m] : maps_.mappings()) {
    MappingCost& c = cost[m.site] ? *cost[m.site] : cost[m.site].emplace();
    uint64_t reserved = m.end - start, committed = maps_.CommittedBytes(start, m.end), res = (*resident)[k++];
    c.reserved_bytes += reserved;
    c.committed_bytes += committed;
    c.resident_bytes += res;
    std::optional<MappingCost>& total = t.space_cost[static_cast<int>(sites_.space_of(m.site))];
    if (total) {
      total->reserved_bytes += reserved;
      total->committed_bytes += committed;
      total->resident_bytes += res;
    }
  }
  return cost;
}

void Flusher::AttachPredatingMappings(Totals& t, const std::vector<ProcMapping>& proc) const {
  if (!g_predating.recorded()) return;
  // What of the mappings that existed when tracing began is still mapped:
  // both lists are sorted and disjoint, so one merge walk.
  uint64_t anon = 0, file = 0;
  const PredatingRange* r = g_predating.ranges();
  size_t n = g_predating.range_count(), i = 0;
  for (const ProcMapping& m : proc) {
    while (i < n && r[i].end <= m.start) ++i;
    for (size_t k = i; k < n && r[k].start < m.end; ++k) {
      uint64_t lo = std::max(m.start, r[k].start), hi = std::min(m.end, r[k].end);
      if (lo < hi) (r[k].file ? file : anon) += hi - lo;
    }
  }
  t.predating_anon_bytes = anon;
  t.predating_file_bytes = file;
}

void Flusher::AttachFilePaths(Snapshot& snapshot, const std::vector<ProcMapping>& proc) const {
  absl::flat_hash_map<const StackRecord*, size_t> entry_of;  // file sites only
  for (size_t i = 0; i < snapshot.sites.size(); ++i) {
    if (snapshot.sites[i].space == Space::kFileMmap) entry_of[snapshot.sites[i].stack] = i;
  }
  for (const auto& [start, m] : maps_.mappings()) {
    if (sites_.space_of(m.site) != Space::kFileMmap) continue;
    auto e = entry_of.find(sites_.stack_of(m.site));
    if (e == entry_of.end()) continue;
    std::vector<FileShare>& files = snapshot.sites[e->second].files;
    // The kernel's mappings overlapping [start, m.end).
    auto it = std::upper_bound(proc.begin(), proc.end(), start,
                               [](uint64_t a, const ProcMapping& p) { return a < p.start; });
    if (it != proc.begin()) --it;
    for (; it != proc.end() && it->start < m.end; ++it) {
      uint64_t lo = std::max(start, it->start), hi = std::min(m.end, it->end);
      if (lo >= hi) continue;
      const std::string& path = it->path.empty() ? std::string("(unknown)") : it->path;
      auto f = std::find_if(files.begin(), files.end(), [&](const FileShare& x) { return x.path == path; });
      if (f == files.end()) files.push_back(FileShare{path, hi - lo});
      else f->live_bytes += hi - lo;
    }
  }
  for (SiteEntry& site : snapshot.sites) {
    std::sort(site.files.begin(), site.files.end(),
              [](const FileShare& a, const FileShare& b) { return a.live_bytes > b.live_bytes; });
  }
}

}  // namespace memtrace
