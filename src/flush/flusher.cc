// The flusher thread, its requests, and snapshots (see flusher.h).
#include "src/flush/flusher.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "src/capture/capture.h"
#include "src/capture/os_memory.h"
#include "src/capture/sampler.h"
#include "src/capture/stack_depot.h"
#include "src/flush/process_stats.h"
#include "src/log.h"

namespace memtrace {
namespace {

constexpr size_t kTimelineCap = 1024;     // points kept; older ones are thinned, marks kept
constexpr uint64_t kPollPeriodNs = 100000000;  // control file and signal checks

uint64_t MonotonicNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

void SleepMicros(long us) {
  timespec ts{us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace

Flusher::Flusher(SlotTable* slots, Options options)
    : slots_(slots),
      options_(std::move(options)),
      merger_(slots),
      heap_(&sites_, &threads_),
      cuda_(&sites_, &threads_),
      maps_(&sites_, &threads_, static_cast<uint64_t>(sysconf(_SC_PAGESIZE))),
      start_ns_(MonotonicNs()) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  heap_.set_sample_period(options_.sample_bytes);
}

bool Flusher::Start() {
  stop_.store(false, std::memory_order_relaxed);
  // The thread must never receive the program's signals: create it with a
  // full mask (it inherits it).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // The guard keeps our own pthread_create hook from tracing this thread
  // (Start also runs from a fork child's atfork handler, on a program thread).
  uint32_t saved_guard = t_state.guard;
  t_state.guard = 1;
  int rc = pthread_create(&thread_, nullptr, &Flusher::ThreadMain, this);
  t_state.guard = saved_guard;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  running_ = rc == 0;
  if (running_) slots_->SetConsumerActive(true);
  else MT_LOG_ERROR("cannot start the flusher thread (error %d); tracing is off", rc);
  return running_;
}

void Flusher::Stop() {
  if (!running_) return;
  stop_.store(true, std::memory_order_release);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  pthread_join(thread_, nullptr);
  running_ = false;
}

void* Flusher::ThreadMain(void* self) {
  CaptureMarkInternalThread();
  pthread_setname_np(pthread_self(), "memtrace-flush");
  static_cast<Flusher*>(self)->Run();
  return nullptr;
}

void Flusher::RequestFromSignal() {
  signal_request_.store(true, std::memory_order_release);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t r = write(wake_fd_, &one, sizeof(one));  // async-signal-safe
    (void)r;
  }
}

void Flusher::WaitForWork(uint64_t timeout_ns) {
  if (wake_fd_ < 0) {
    SleepMicros(static_cast<long>(timeout_ns / 1000));
    return;
  }
  pollfd p{wake_fd_, POLLIN, 0};
  timespec ts{static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  if (ppoll(&p, 1, &ts, nullptr) > 0) {
    uint64_t v;
    ssize_t r = read(wake_fd_, &v, sizeof(v));
    (void)r;
  }
}

void Flusher::Run() {
  int idle_rounds = 0;
  uint64_t now = MonotonicNs();
  uint64_t next_interval = options_.interval_ns > 0 ? now + options_.interval_ns : UINT64_MAX;
  uint64_t next_sample = options_.sample_period_ns > 0 ? now : UINT64_MAX;
  uint64_t next_poll = now + kPollPeriodNs;
  while (!stop_.load(std::memory_order_acquire)) {
    size_t delivered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      delivered = merger_.Round(*this);
    }
    now = MonotonicNs();
    if (signal_request_.exchange(false, std::memory_order_acq_rel)) DumpOnFlusherThread("signal", "");
    if (now >= next_interval) {
      DumpOnFlusherThread("interval", "");
      next_interval = MonotonicNs() + options_.interval_ns;
    }
    if (now >= next_sample) {
      std::lock_guard<std::mutex> lock(mu_);
      AppendTimelineLocked(SampleLocked(""));
      next_sample = now + options_.sample_period_ns;
    }
    if (now >= next_poll) {
      if (poll_hook_) poll_hook_(*this);
      next_poll = MonotonicNs() + kPollPeriodNs;
    }
    if (delivered > 0) {
      idle_rounds = 0;
      continue;
    }
    // Back off to 5 ms when idle (a quiet service costs ~200 wake-ups/s); a
    // signal request wakes us at once through the eventfd.
    idle_rounds = std::min(idle_rounds + 1, 50);
    uint64_t wait = 100000ull * static_cast<uint64_t>(idle_rounds);
    uint64_t deadline = std::min({next_interval, next_sample, next_poll});
    now = MonotonicNs();
    if (deadline > now) wait = std::min(wait, deadline - now);
    else wait = 0;
    if (wait > 0) WaitForWork(wait);
  }
}

void Flusher::OnEvent(uint32_t slot, const Event& e) {
  ++events_;
  switch (e.Kind()) {
    case EventKind::kAlloc:
      heap_.OnAlloc(e.addr, e.size, e.stack, threads_.ThreadOfSlot(slot), e.ts);
      break;
    case EventKind::kFree:
      heap_.OnFree(e.addr);
      break;
    case EventKind::kTracerAlloc:
      heap_.OnTracerAlloc(e.addr);
      break;
    case EventKind::kMapAnon:
    case EventKind::kMapFile:
      maps_.Map(e.addr, e.size, e.stack, e.Kind() == EventKind::kMapFile ? Space::kFileMmap : Space::kAnonMmap,
                threads_.ThreadOfSlot(slot), e.ts);
      break;
    case EventKind::kUnmap:
      maps_.Unmap(e.addr, e.size);
      break;
    case EventKind::kRemapFrom:
    case EventKind::kRemapFromKeep:
      maps_.RemapFrom(slot, e.addr, e.size, e.Kind() == EventKind::kRemapFromKeep);
      break;
    case EventKind::kRemapTo:
    case EventKind::kRemapToKeep:
      maps_.RemapTo(slot, e.addr, e.size, e.Kind() == EventKind::kRemapToKeep);
      break;
    case EventKind::kThreadStart:
      threads_.OnStart(slot, e.addr, static_cast<uint32_t>(e.size), e.aux, e.ts);
      break;
    case EventKind::kCudaDeviceAlloc:
    case EventKind::kCudaManagedAlloc:
      cuda_.OnAlloc(e.addr, e.size & kCudaBytesMask, e.stack, threads_.ThreadOfSlot(slot), e.ts,
                    e.Kind() == EventKind::kCudaDeviceAlloc ? Space::kCudaDevice : Space::kCudaManaged,
                    static_cast<int>(e.size >> kCudaDeviceShift));
      break;
    case EventKind::kCudaPinnedAlloc:
      cuda_.OnAlloc(e.addr, e.size, e.stack, threads_.ThreadOfSlot(slot), e.ts, Space::kCudaPinned, -1);
      break;
    case EventKind::kCudaFree:
      cuda_.OnFree(e.addr);
      break;
    case EventKind::kThreadCreated:
      threads_.OnCreated(e.addr, static_cast<uint32_t>(e.size), static_cast<uint32_t>(e.aux), e.ts);
      break;
    case EventKind::kThreadOrigin:
      threads_.OnOrigin(static_cast<uint32_t>(e.size), e.addr, e.stack);
      break;
    case EventKind::kThreadAttr:
      threads_.OnAttr(static_cast<uint32_t>(e.size >> 1), e.addr, (e.size & 1) != 0);
      break;
    case EventKind::kThreadExit:
      threads_.OnExit(slot, e.ts);
      break;
    case EventKind::kThreadJoin:
      threads_.OnJoin(e.addr);
      break;
    case EventKind::kThreadDetach:
      threads_.OnDetach(e.addr);
      break;
    case EventKind::kThreadName: {
      char name[16] = {};
      uint64_t lo = e.size, hi = e.aux;
      memcpy(name, &lo, 7);
      memcpy(name + 7, &hi, 8);
      threads_.OnName(e.addr, std::string(name, strnlen(name, 15)));
      break;
    }
  }
}

bool Flusher::AllIdle() const {
  uint32_t hw = slots_->high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (slots_->slot(i)->busy_since.load(std::memory_order_acquire) != kIdle) return false;
  }
  return true;
}

void Flusher::DrainFinal(int wait_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  // Threads still inside a hook finish their call; keep draining so that a
  // producer waiting for ring space can finish.
  for (int waited_us = 0; !AllIdle() && waited_us < wait_ms * 1000; waited_us += 200) {
    merger_.Round(*this);
    SleepMicros(200);
  }
  if (!AllIdle()) MT_LOG_WARN("a thread was still inside an allocation call at exit; its event may be missing");
  merger_.Round(*this, /*deliver_all=*/true);
  // Anything pushed from now on is dropped (and counted), never waited for.
  slots_->SetConsumerActive(false);
  merger_.Round(*this, /*deliver_all=*/true);
}

// Called with mu_ held: delivers every event stamped before `ts`.
void Flusher::DrainUntil(uint64_t ts, int wait_ms) {
  for (int waited_us = 0;; waited_us += 50) {
    merger_.Round(*this);
    if (merger_.last_watermark() > ts) return;
    if (waited_us >= wait_ms * 1000) {
      MT_LOG_WARN("a thread stayed inside an allocation call; the snapshot may miss its last event");
      return;
    }
    SleepMicros(50);
  }
}

Snapshot Flusher::TakeSnapshot(const char* reason) {
  std::lock_guard<std::mutex> lock(mu_);
  return BuildSnapshotLocked(reason);
}

Snapshot Flusher::SnapshotNow(const char* reason, int wait_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  DrainUntil(ClockNow(), wait_ms);
  return BuildSnapshotLocked(reason);
}

void Flusher::DumpOnFlusherThread(const char* reason, const std::string& path) {
  Snapshot s = SnapshotNow(reason, 1000);
  if (sink_) sink_(s, path);
}

void Flusher::Mark(const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  DrainUntil(ClockNow(), 1000);
  AppendTimelineLocked(SampleLocked(label.empty() ? std::string("mark") : label));
}

TimelinePoint Flusher::SampleLocked(const std::string& mark) {
  TimelinePoint p;
  p.t = static_cast<double>(MonotonicNs() - start_ns_) / 1e9;
  p.live_bytes = sites_.live_bytes();
  for (int sp = 0; sp < kSpaceCount; ++sp) p.space_bytes[sp] = sites_.space_totals(static_cast<Space>(sp)).live_bytes;
  ProcessStats ps = ReadProcessStats();
  p.rss_bytes = ps.rss_bytes;
  p.glibc_free_bytes = ps.glibc_free_bytes;
  p.glibc_mmapped_bytes = ps.glibc_mmapped_bytes;
  p.glibc_arenas = ps.glibc_arenas;
  p.mark = mark;
  return p;
}

void Flusher::AppendTimelineLocked(TimelinePoint p) {
  timeline_.push_back(std::move(p));
  if (timeline_.size() <= kTimelineCap) return;
  // Full: keep the whole history at half the resolution (every other unmarked
  // point goes; marks and the newest point stay).
  std::deque<TimelinePoint> thinned;
  bool drop = false;
  for (size_t i = 0; i < timeline_.size(); ++i) {
    bool keep = !timeline_[i].mark.empty() || i + 1 == timeline_.size() || !drop;
    if (timeline_[i].mark.empty()) drop = !drop;
    if (keep) thinned.push_back(std::move(timeline_[i]));
  }
  timeline_ = std::move(thinned);
}

Snapshot Flusher::BuildSnapshotLocked(const char* reason) {
  Snapshot s;
  s.reason = reason;
  s.sequence = ++sequence_;
  s.pid = getpid();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  s.time_unix_ms = static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
  AppendTimelineLocked(SampleLocked(""));
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
  std::vector<size_t> entry_of_site(sites_.size(), SIZE_MAX);
  for (size_t i : order) {
    const SiteStats& st = sites_.site(i);
    SiteEntry e{sites_.stack_of(i), sites_.space_of(i), st, {}, 0, 0, {}, sites_.device_of(i)};
    e.growth_bytes = static_cast<int64_t>(st.live_bytes) - static_cast<int64_t>(reported_[i].live_bytes);
    e.growth_blocks = static_cast<int64_t>(st.live_blocks) - static_cast<int64_t>(reported_[i].live_blocks);
    has_file_sites |= e.space == Space::kFileMmap && st.live_blocks > 0;
    entry_of_site[i] = s.sites.size();
    s.sites.push_back(std::move(e));
  }
  for (size_t i = 0; i < sites_.size(); ++i) reported_[i] = sites_.site(i);
  AttachThreads(s, entry_of_site);
  std::vector<ProcMapping> proc = ReadProcMaps();
  for (const ProcMapping& m : proc) {
    if (m.path.empty() || m.path[0] == '[') {
      if (m.path.empty() || m.path == "[heap]" || m.path.rfind("[stack", 0) == 0) t.process_anon_bytes += m.end - m.start;
    } else {
      t.process_file_bytes += m.end - m.start;
    }
  }
  if (has_file_sites) AttachFilePaths(s, proc);
  s.timeline.assign(timeline_.begin(), timeline_.end());

  TracerStats& tr = s.tracer;
  tr.events = events_;
  tr.ring_stalls = slots_->counters().ring_stalls.load(std::memory_order_relaxed);
  tr.dropped_events = slots_->counters().dropped_events.load(std::memory_order_relaxed);
  tr.untraced_threads = slots_->counters().slot_exhausted.load(std::memory_order_relaxed);
  tr.stacks = g_depot.id_bound();
  tr.threads_seen = threads_.threads().size() - 1;
  int64_t own_heap = std::max<int64_t>(0, g_internal_heap_bytes.load(std::memory_order_relaxed));
  tr.memory_bytes = OsMappedBytes() + static_cast<uint64_t>(own_heap);
  tr.sample_bytes = options_.sample_bytes;
  tr.sample_overflows = g_sampled.overflows();
  tr.clock = options_.clock_name;
  tr.unwinder = options_.unwinder_name;
  return s;
}

void Flusher::AttachThreads(Snapshot& s, const std::vector<size_t>& entry_of_site) const {
  const std::vector<ThreadRecord>& threads = threads_.threads();
  // Live bytes per (site, thread), from every live block and mapping.
  absl::flat_hash_map<uint64_t, uint64_t> by_site_thread;
  auto key = [](uint32_t site, uint32_t thread) { return (static_cast<uint64_t>(site) << 32) | thread; };
  for (const auto& [addr, b] : heap_.live()) by_site_thread[key(b.site, b.thread)] += b.size;
  for (const auto& [addr, b] : cuda_.live()) by_site_thread[key(b.site, b.thread)] += b.size;
  for (const auto& [start, m] : maps_.mappings()) by_site_thread[key(m.site, m.thread)] += m.end - start;

  // Creators.
  absl::flat_hash_map<const StackRecord*, size_t> creator_index;
  auto creator_of = [&](uint32_t t) -> CreatorEntry& {
    const StackRecord* c = threads[t].creator;
    auto [it, inserted] = creator_index.try_emplace(c, s.creators.size());
    if (inserted) {
      s.creators.emplace_back();
      s.creators.back().creator = c;
    }
    return s.creators[it->second];
  };
  ThreadTotals& tt = s.thread_totals;
  int main_pid = getpid();
  std::vector<size_t> listed;
  for (uint32_t t = 1; t < threads.size(); ++t) {
    const ThreadRecord& r = threads[t];
    bool unjoined = r.exited && !r.joined && !r.detached && r.tid != static_cast<uint64_t>(main_pid);
    ++tt.seen;
    if (r.exited) ++tt.exited;
    else ++tt.alive;
    if (unjoined) {
      ++tt.exited_unjoined;
      tt.unjoined_stack_bytes += r.stack_size;
    }
    bool orphan = !r.exited && r.parent != 0 && threads[r.parent].exited;
    if (orphan) ++tt.orphans;
    if (r.exited) tt.exited_thread_live_bytes += r.live_bytes;
    CreatorEntry& c = creator_of(t);
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
      e.parent_tid = r.parent != 0 ? threads[r.parent].tid : 0;
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
      s.threads.push_back(std::move(e));
    }
  }
  // Groups by (start routine, parent).
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, size_t> group_index;
  for (uint32_t t = 1; t < threads.size(); ++t) {
    const ThreadRecord& r = threads[t];
    if (!r.created_by_hook) continue;
    auto [it, inserted] = group_index.try_emplace(std::make_pair(r.start_routine, r.parent), s.groups.size());
    if (inserted) {
      ThreadGroup g;
      g.start_routine = r.start_routine;
      if (r.parent != 0) {
        const ThreadRecord& p = threads[r.parent];
        g.parent_tid = p.tid;
        bool p_unjoined = p.exited && !p.joined && !p.detached;
        g.parent_state = !p.exited ? "alive" : p_unjoined ? "exited_unjoined" : "exited";
        g.parent_live_bytes = p.live_bytes;
      }
      s.groups.push_back(g);
    }
    ThreadGroup& g = s.groups[it->second];
    ++g.threads;
    if (!r.exited) ++g.alive;
    g.live_bytes += r.live_bytes;
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

void Flusher::PrepareFork() { mu_.lock(); }

void Flusher::ParentAfterFork() { mu_.unlock(); }

void Flusher::ChildAfterFork() {
  // Only the forking thread exists here; it holds mu_ (taken in PrepareFork).
  // The child's reports count from 1 and its timeline starts afresh.
  sequence_ = 0;
  timeline_.clear();
  start_ns_ = MonotonicNs();
  // The eventfd is shared with the parent: a signal to the parent must not
  // wake (and be consumed by) the child.
  if (wake_fd_ >= 0) close(wake_fd_);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  mu_.unlock();
  CaptureResetAfterFork();
  bool was_running = running_;
  running_ = false;
  if (was_running) Start();
}

}  // namespace memtrace
