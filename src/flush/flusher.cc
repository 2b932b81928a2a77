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
  Snapshot s;
  s.reason = reason;
  s.pid = getpid();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  s.time_unix_ms = static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
  s.rss_bytes = ReadRssBytes();
  s.totals = heap_.totals();
  for (size_t i = 0; i < heap_.site_count(); ++i) {
    if (heap_.site(i).live_blocks > 0 || (all_sites && heap_.site(i).allocs > 0)) s.sites.push_back(SiteEntry{heap_.stack_of(i), heap_.site(i)});
  }
  std::sort(s.sites.begin(), s.sites.end(), [](const SiteEntry& a, const SiteEntry& b) {
    if (a.stats.live_bytes != b.stats.live_bytes) return a.stats.live_bytes > b.stats.live_bytes;
    if (a.stats.live_blocks != b.stats.live_blocks) return a.stats.live_blocks > b.stats.live_blocks;
    return a.stats.allocs > b.stats.allocs;
  });
  TracerStats& t = s.tracer;
  t.events = events_;
  t.ring_stalls = slots_->counters().ring_stalls.load(std::memory_order_relaxed);
  t.dropped_events = slots_->counters().dropped_events.load(std::memory_order_relaxed);
  t.untraced_threads = slots_->counters().slot_exhausted.load(std::memory_order_relaxed);
  t.stacks = g_depot.id_bound();
  t.threads_seen = threads_.threads().size() - 1;
  int64_t own_heap = std::max<int64_t>(0, g_internal_heap_bytes.load(std::memory_order_relaxed));
  t.memory_bytes = OsMappedBytes() + static_cast<uint64_t>(own_heap);
  t.clock = clock_name_;
  t.unwinder = unwinder_name_;
  return s;
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
