// The flusher thread and snapshots (see flusher.h).
#include "src/flush/flusher.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "src/capture/capture.h"
#include "src/capture/os_memory.h"
#include "src/capture/stack_depot.h"
#include "src/flush/proc_maps.h"
#include "src/log.h"

namespace memtrace {
namespace {

uint64_t ReadRssBytes() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  unsigned long long size = 0, resident = 0;
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void SleepMicros(long us) {
  timespec ts{us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace

Flusher::Flusher(SlotTable* slots)
    : slots_(slots), merger_(slots), heap_(&sites_), maps_(&sites_, static_cast<uint64_t>(sysconf(_SC_PAGESIZE))) {}

bool Flusher::Start() {
  stop_.store(false, std::memory_order_relaxed);
  // The thread must never receive the program's signals: block them all in
  // the new thread by creating it with a full mask.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&thread_, nullptr, &Flusher::ThreadMain, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  running_ = rc == 0;
  if (running_) slots_->SetConsumerActive(true);
  else MEMTRACE_LOG_ERROR("cannot start the flusher thread (error %d); tracing is off", rc);
  return running_;
}

void Flusher::Stop() {
  if (!running_) return;
  stop_.store(true, std::memory_order_release);
  pthread_join(thread_, nullptr);
  running_ = false;
}

void* Flusher::ThreadMain(void* self) {
  CaptureMarkInternalThread();
  pthread_setname_np(pthread_self(), "memtrace-flush");
  static_cast<Flusher*>(self)->Run();
  return nullptr;
}

void Flusher::Run() {
  int idle_rounds = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    size_t delivered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      delivered = merger_.Round(*this);
    }
    if (delivered > 0) {
      idle_rounds = 0;
      continue;
    }
    // Back off to 5 ms when idle: a quiet service costs ~200 wake-ups/s.
    idle_rounds = std::min(idle_rounds + 1, 50);
    SleepMicros(100L * idle_rounds);
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
      threads_.OnStart(slot, e.addr, e.ts);
      break;
    case EventKind::kThreadExit:
      threads_.OnExit(slot, e.ts);
      break;
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
  if (!AllIdle()) MEMTRACE_LOG_WARN("a thread was still inside an allocation call at exit; its event may be missing");
  merger_.Round(*this, /*deliver_all=*/true);
  // Anything pushed from now on is dropped (and counted), never waited for.
  slots_->SetConsumerActive(false);
  merger_.Round(*this, /*deliver_all=*/true);
}

Snapshot Flusher::TakeSnapshot(const char* reason, bool all_sites) {
  std::lock_guard<std::mutex> lock(mu_);
  return BuildSnapshotLocked(reason, all_sites);
}

Snapshot Flusher::SnapshotNow(const char* reason, bool all_sites, int wait_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t now = ClockNow();
  for (int waited_us = 0;; waited_us += 50) {
    merger_.Round(*this);
    if (merger_.last_watermark() > now) break;
    if (waited_us >= wait_ms * 1000) {
      MEMTRACE_LOG_WARN("a thread stayed inside an allocation call; the snapshot may miss its last event");
      break;
    }
    SleepMicros(50);
  }
  return BuildSnapshotLocked(reason, all_sites);
}

Snapshot Flusher::BuildSnapshotLocked(const char* reason, bool all_sites) {
  Snapshot s;
  s.reason = reason;
  s.pid = getpid();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  s.time_unix_ms = static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
  s.rss_bytes = ReadRssBytes();
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
  t.untracked_unmap_bytes = maps_.untracked_unmap_bytes();
  std::vector<size_t> file_sites;
  for (size_t i = 0; i < sites_.size(); ++i) {
    const SiteStats& st = sites_.site(i);
    if (st.live_blocks > 0 || (all_sites && st.allocs > 0)) {
      if (sites_.space_of(i) == Space::kFileMmap && st.live_blocks > 0) file_sites.push_back(s.sites.size());
      s.sites.push_back(SiteEntry{sites_.stack_of(i), sites_.space_of(i), st, {}});
    }
  }
  std::vector<ProcMapping> proc = ReadProcMaps();
  for (const ProcMapping& m : proc) {
    if (m.path.empty() || m.path[0] == '[') {
      if (m.path.empty() || m.path == "[heap]" || m.path.rfind("[stack", 0) == 0) t.process_anon_bytes += m.end - m.start;
    } else {
      t.process_file_bytes += m.end - m.start;
    }
  }
  if (!file_sites.empty()) AttachFilePaths(s, proc);
  std::sort(s.sites.begin(), s.sites.end(), [](const SiteEntry& a, const SiteEntry& b) {
    if (a.stats.live_bytes != b.stats.live_bytes) return a.stats.live_bytes > b.stats.live_bytes;
    if (a.stats.live_blocks != b.stats.live_blocks) return a.stats.live_blocks > b.stats.live_blocks;
    return a.stats.allocs > b.stats.allocs;
  });
  TracerStats& tr = s.tracer;
  tr.events = events_;
  tr.ring_stalls = slots_->counters().ring_stalls.load(std::memory_order_relaxed);
  tr.dropped_events = slots_->counters().dropped_events.load(std::memory_order_relaxed);
  tr.untraced_threads = slots_->counters().slot_exhausted.load(std::memory_order_relaxed);
  tr.stacks = g_depot.id_bound();
  tr.threads_seen = threads_.threads().size() - 1;
  int64_t own_heap = std::max<int64_t>(0, g_internal_heap_bytes.load(std::memory_order_relaxed));
  tr.memory_bytes = OsMappedBytes() + static_cast<uint64_t>(own_heap);
  tr.clock = clock_name_;
  tr.unwinder = unwinder_name_;
  return s;
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
  mu_.unlock();
  CaptureResetAfterFork();
  bool was_running = running_;
  running_ = false;
  if (was_running) Start();
}

}  // namespace memtrace
