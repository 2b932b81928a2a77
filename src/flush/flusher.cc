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
#include "src/flush/process_stats.h"
#include "src/log.h"

namespace memtrace {
namespace {

constexpr size_t kTimelineCap = 1024;     // points kept; older ones are thinned, marks kept
constexpr uint64_t kPollPeriodNs = 100000000;  // control file and signal checks
constexpr size_t kBusyRoundEvents = 2048;       // a round that moved this many: go again at once
constexpr uint64_t kTrickleWaitNs = 200000;     // else, with some: pause (see Run)

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
      start_ns_(MonotonicNanos()) {
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
  uint64_t now = MonotonicNanos();
  uint64_t next_interval = options_.interval_ns > 0 ? now + options_.interval_ns : UINT64_MAX;
  uint64_t next_sample = options_.sample_period_ns > 0 ? now : UINT64_MAX;
  uint64_t next_poll = now + kPollPeriodNs;
  while (!stop_.load(std::memory_order_acquire)) {
    size_t progress;  // events delivered, or moved out of rings
    {
      std::lock_guard<std::mutex> lock(mu_);
      progress = merger_.Round(*this);
      progress += merger_.last_collected();
    }
    now = MonotonicNanos();
    if (signal_request_.exchange(false, std::memory_order_acq_rel)) DumpOnFlusherThread("signal", "");
    if (now >= next_interval) {
      DumpOnFlusherThread("interval", "");
      next_interval = MonotonicNanos() + options_.interval_ns;
    }
    if (now >= next_sample) {
      std::lock_guard<std::mutex> lock(mu_);
      AppendTimelineLocked(SampleLocked(""));
      next_sample = now + options_.sample_period_ns;
    }
    if (now >= next_poll) {
      if (poll_hook_) poll_hook_(*this);
      next_poll = MonotonicNanos() + kPollPeriodNs;
    }
    // Pace: spin only while events pour in. A thread that stays on a CPU
    // costs the program more than its own cycles: every munmap or mprotect
    // must interrupt it to flush its TLB. Rings hold 16K events, so a round
    // that moved only a few can sleep 200 us without making anyone wait.
    uint64_t wait;
    if (progress >= kBusyRoundEvents) {
      idle_rounds = 0;
      continue;
    } else if (progress > 0) {
      idle_rounds = 0;
      wait = kTrickleWaitNs;
    } else {
      // Back off to 5 ms when idle (a quiet service costs ~200 wake-ups/s); a
      // signal request wakes us at once through the eventfd.
      idle_rounds = std::min(idle_rounds + 1, 50);
      wait = 100000ull * static_cast<uint64_t>(idle_rounds);
    }
    uint64_t deadline = std::min({next_interval, next_sample, next_poll});
    now = MonotonicNanos();
    if (deadline > now) wait = std::min(wait, deadline - now);
    else wait = 0;
    if (wait > 0) WaitForWork(wait);
  }
}

void Flusher::OnEvent(uint32_t slot, const Event& e) { OnEvents(slot, &e, 1); }

void Flusher::OnEvents(uint32_t slot, const Event* events, size_t n) {
  // Heap events inline; everything else through OnOtherEvent's switch.
  uint32_t thread = threads_.ThreadOfSlot(slot);
  events_ += n;
  for (size_t k = 0; k < n; ++k) {
    const Event& e = events[k];
    switch (e.Kind()) {
      case EventKind::kAlloc:
        // A temporary (its free comes next) never enters the live table.
        if (k + 1 < n && events[k + 1].Kind() == EventKind::kFree && events[k + 1].addr == e.addr &&
            heap_.OnAllocFreed(e.addr, e.size, e.stack, thread)) {
          ++k;
          break;
        }
        heap_.OnAlloc(e.addr, e.size, e.stack, thread);
        break;
      case EventKind::kFree:
        heap_.OnFree(e.addr);
        break;
      default:
        OnOtherEvent(slot, e);
        thread = threads_.ThreadOfSlot(slot);  // a thread start changes it
        break;
    }
  }
}

void Flusher::OnOtherEvent(uint32_t slot, const Event& e) {
  switch (e.Kind()) {
    case EventKind::kAlloc:
    case EventKind::kFree:
      break;  // OnEvents
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
      cuda_.OnAlloc(e.addr, e.size & kCudaBytesMask, e.stack, threads_.ThreadOfSlot(slot),
                    e.Kind() == EventKind::kCudaDeviceAlloc ? Space::kCudaDevice : Space::kCudaManaged,
                    static_cast<int>(e.size >> kCudaDeviceShift));
      break;
    case EventKind::kCudaPinnedAlloc:
      cuda_.OnAlloc(e.addr, e.size, e.stack, threads_.ThreadOfSlot(slot), Space::kCudaPinned, -1);
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
  BusyFenceHeavy();  // stamps stored with plain stores are visible after it
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
    merger_.Round(*this, /*deliver_all=*/false, /*fresh_watermark=*/true);
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
  p.t = static_cast<double>(MonotonicNanos() - start_ns_) / 1e9;
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

void Flusher::PrepareFork() { mu_.lock(); }

void Flusher::ParentAfterFork() { mu_.unlock(); }

void Flusher::ChildAfterFork() {
  BusyFenceAfterFork();
  // Only the forking thread exists here; it holds mu_ (taken in PrepareFork).
  // The child's reports count from 1 and its timeline starts afresh.
  sequence_ = 0;
  timeline_.clear();
  start_ns_ = MonotonicNanos();
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
