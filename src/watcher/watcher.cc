// The watcher process (see watcher.h).
#include "src/watcher/watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <string>

#include "src/capture/busy_fence.h"
#include "src/capture/handoff.h"
#include "src/capture/clock.h"
#include "src/capture/futex.h"
#include "src/capture/region.h"
#include "src/capture/thread_slots.h"
#include "src/config/config.h"
#include "src/flush/flusher.h"
#include "src/flush/proc_maps.h"
#include "src/log.h"
#include "src/report/output.h"
#include "src/report/module_map.h"
#include "src/report/report_writer.h"
#include "src/trigger/control_file.h"
#include "src/watcher/leak_check.h"

namespace memtrace::watcher {
namespace {

constexpr uint64_t kPollPeriodNs = 100000000;       // control file
constexpr uint64_t kExecCheckPeriodNs = 500000000;  // is the region still mapped there?
constexpr uint64_t kMapsRefreshNs = 1000000000;     // the saved /proc/PID/maps, for after death
constexpr size_t kBusyRoundEvents = 2048;           // a round that moved this many: go again at once
constexpr uint64_t kTrickleWaitNs = 200000;         // else, with some: pause

// The kernel's pidfd_info (linux/pidfd.h, Linux 6.15+ for the exit status);
// older kernels refuse the ioctl and /proc/PID/stat is read instead.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask;
  uint32_t spare1;
};
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
constexpr uint64_t kPidfdInfoExit = 1ull << 3;

uint64_t OwnRss() { return ReadRssBytes(static_cast<int>(getpid())); }

std::string RegionPath(int pid) {
  char buf[128];
  snprintf(buf, sizeof(buf), "/proc/%d/map_files/%lx-%lx", pid, static_cast<unsigned long>(g_region.base()),
           static_cast<unsigned long>(g_region.base() + g_region.size()));
  return buf;
}

// The wait status of a process that ended: /proc/PID/stat while it is a
// zombie, else (once its parent reaped it) from its pidfd, which the kernel
// (6.15+) gives the status at that moment. Tried a few times: the parent may
// reap it between the two. -1 if neither can tell.
int ExitStatusOnce(int pidfd, int pid);

int ExitStatus(int pidfd, int pid) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int st = ExitStatusOnce(pidfd, pid);
    if (st >= 0) return st;
    timespec ts{0, 2000000};
    nanosleep(&ts, nullptr);
  }
  return -1;
}

int ExitStatusOnce(int pidfd, int pid) {
  if (pidfd >= 0) {
    PidfdInfo info{};
    info.mask = kPidfdInfoExit;
    if (ioctl(pidfd, kPidfdGetInfo, &info) == 0 && (info.mask & kPidfdInfoExit) != 0) return info.exit_code;
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ' || p[2] != 'Z') return -1;  // only the zombie's (not a new process with the pid)
  // Field 3 is the state; the exit code is field 52.
  int field = 2;
  for (const char* q = p + 1; *q != '\0'; ++q) {
    if (*q == ' ') {
      ++field;
      if (field == 52) return atoi(q + 1);
    }
  }
  return -1;
}

class Watcher {
 public:
  explicit Watcher(const WatcherHandoff& setup) : setup_(setup), h_(g_region.header()), pidfd_(setup.pidfd) {}
  [[noreturn]] void Run();

 private:
  void Serve();
  void Report(const char* reason, const std::string& path, const GlibcStats& glibc, std::string* where = nullptr,
              bool leaks = false);
  [[noreturn]] void Final(EndHow how, int status, const GlibcStats& glibc);
  [[noreturn]] void AfterDeath();
  [[noreturn]] void Leave();
  bool Dead();
  void RefreshMaps(bool force);
  bool Execed();
  void WriteRunResult(const Snapshot& s, const ProcessEnd& end, int gate_code);

  const WatcherHandoff& setup_;
  RegionHeader* h_;
  int pidfd_ = -1;  // opened by the program before the fork: it cannot have died before
  int pid_ = 0;
  Flusher* flusher_ = nullptr;
  ReportWriter* writer_ = nullptr;
  ControlFile control_;
  LeakCheck* leaks_ = nullptr;
  // The program's /proc/PID/maps text and modules as last read (at first our
  // own: a copy of the program's layout at the fork), for after its death.
  std::string maps_;
  std::vector<LoadedModule> modules_;
  std::string comm_;  // the program's name, as the kernel knows it (it changes at an exec)
  uint32_t maps_generation_ = UINT32_MAX;
  uint64_t maps_at_ns_ = 0;
  bool exec_check_ = true;
};

CudaStatus CudaFromHeader() {
  CudaStatus s;
  RegionHeader* h = g_region.header();
  s.runtime_hooks = h->cuda_runtime_hooks.load(std::memory_order_acquire) != 0;
  s.cupti = h->cupti_active.load(std::memory_order_acquire) != 0;
  if (h->cuda_reason_set.load(std::memory_order_acquire) != 0) {
    s.reason.assign(h->cuda_reason, strnlen(h->cuda_reason, sizeof(h->cuda_reason)));
  } else if (s.cupti) {
    s.reason.clear();
  }
  return s;
}

void Watcher::RefreshMaps(bool force) {
  uint32_t gen = h_->modules_generation.load(std::memory_order_acquire);
  uint64_t now = MonotonicNanos();
  if (!force && gen == maps_generation_ && now - maps_at_ns_ < kMapsRefreshNs) return;
  std::string text = ReadProcMapsText(pid_);
  if (!text.empty()) {
    maps_ = std::move(text);
    maps_generation_ = gen;
    absl::StatusOr<std::vector<LoadedModule>> modules = ReadProcessModules(pid_);
    if (modules.ok() && !modules->empty()) modules_ = std::move(*modules);
  }
  maps_at_ns_ = now;
}

// An exec replaced the image this watcher traced: the exec hooks said so, or
// the kernel's name of the process changed (a raw execve).
bool Watcher::Execed() {
  if (h_->exec_pending.load(std::memory_order_acquire) != 0) return true;
  char path[64], buf[64] = {};
  snprintf(path, sizeof(path), "/proc/%d/comm", pid_);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 && !comm_.empty() && comm_ != std::string(buf, static_cast<size_t>(n));
}

bool Watcher::Dead() {
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }
  return kill(pid_, 0) != 0 && errno == ESRCH;
}

void Watcher::Report(const char* reason, const std::string& path, const GlibcStats& glibc, std::string* where,
                     bool leaks) {
  try {
    RefreshMaps(true);
    bool scanned = leaks && leaks_->Scan(pid_, *flusher_, 0, 0);
    Snapshot s = flusher_->TakeSnapshot(reason, glibc);
    if (scanned) leaks_->Finish(s, modules_, setup_.config->libc_lines, /*gate=*/false);
    std::string w = writer_->Write(s, path);
    control_.Acknowledge(w);
    if (where != nullptr) *where = w;
  } catch (const std::exception& e) {
    MT_LOG_ERROR("report failed: %s", e.what());
    if (where != nullptr) *where = "";
  }
}

void Watcher::WriteRunResult(const Snapshot& s, const ProcessEnd& end, int gate_code) {
  const char* path = getenv("MEMTRACE_RUN_RESULT");
  if (path == nullptr || *path == '\0' || !setup_.gate) return;
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"pid\": %d, \"watcher_pid\": %d, \"state\": \"done\", \"end\": \"%s\", \"status\": %d, "
           "\"signal\": %d, \"live_bytes\": %llu, \"gate_exit_code\": %d}\n",
           pid_, static_cast<int>(getpid()), end.how.c_str(), end.status.value_or(-1), end.signal.value_or(0),
           static_cast<unsigned long long>(s.totals.live_bytes), gate_code);
  (void)WriteReportFile(path, buf);
}

void Watcher::Final(EndHow how, int status, const GlibcStats& glibc) {
  ProcessEnd end;
  end.how = how == EndHow::kUnderscoreExit ? "_exit" : "exit";
  if (how == EndHow::kUnderscoreExit) end.status = status;
  int gate_code = -1;
  try {
    uint64_t t0 = MonotonicNanos();
    uint32_t busy = flusher_->DrainFinal(1000);
    end.events_lost = busy;
    end.events_in_flight = busy;
    RefreshMaps(true);
    uint64_t t1 = MonotonicNanos();
    // The program is still there (waiting for our answer): a leak check.
    leaks_->Scan(pid_, *flusher_, h_->exit_floor_tid.load(std::memory_order_acquire),
                 h_->exit_floor_sp.load(std::memory_order_acquire));
    uint64_t t2 = MonotonicNanos();
    Snapshot s = flusher_->TakeSnapshot("exit", glibc);
    s.end = end;
    const Config& c = *setup_.config;
    scan::GateVerdict verdict = leaks_->Finish(s, modules_, c.libc_lines, setup_.gate);
    if (setup_.gate && c.leak_exit_code.has_value()) {
      if (verdict.fire) gate_code = *c.leak_exit_code;
      if (verdict.fire) MT_LOG_WARN("%s", verdict.line.c_str() + strlen("memtrace: "));
    }
    uint64_t t3 = MonotonicNanos();
    writer_->Write(s, "");
    WriteRunResult(s, end, gate_code);
    uint64_t t4 = MonotonicNanos();
    MT_LOG_INFO("final report: drain and maps %.1f ms, leak scan %.1f ms, snapshot and suppressions %.1f ms, "
                "written in %.1f ms", (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6);
  } catch (const std::exception& e) {
    MT_LOG_ERROR("final report failed: %s", e.what());
  }
  control_.Cleanup();
  h_->response.rc = 0;
  h_->response.gate_exit_code = gate_code;
  h_->done.fetch_add(1, std::memory_order_release);
  FutexWake(&h_->done, 64);
  Leave();
}

void Watcher::AfterDeath() {
  // The image we traced was replaced and the new one ended: its own watcher
  // (if it is traced) reports; we were not told in time.
  if (Execed()) Leave();
  ProcessEnd end;
  int st = ExitStatus(pidfd_, pid_);
  if (st < 0) {
    end.how = "unknown";
  } else if (WIFSIGNALED(st)) {
    end.how = WTERMSIG(st) == SIGKILL ? "killed" : "signal";
    end.signal = WTERMSIG(st);
    end.core_dumped = WCOREDUMP(st) != 0;
  } else {
    // It exited without running our exit path: Go's runtime, a raw
    // exit_group, quick_exit.
    end.how = "exit_group";
    end.status = WEXITSTATUS(st);
  }
  try {
    uint64_t recovered = 0;
    uint32_t busy = flusher_->DrainAfterDeath(&recovered);
    end.events_recovered = recovered;
    end.events_lost = busy;  // at most one per thread that died inside a hook
    end.events_in_flight = recovered + busy;
    flusher_->set_maps_text(&maps_);
    Snapshot s = flusher_->TakeSnapshot("exit");
    s.end = end;
    writer_->Write(s, "");
    // The program cannot change its status any more; `memtrace run` can.
    const Config& c = *setup_.config;
    scan::GateVerdict verdict = GateWithoutScan(s, c, setup_.gate);
    int gate_code = setup_.gate && c.leak_exit_code.has_value() && verdict.fire ? *c.leak_exit_code : -1;
    WriteRunResult(s, end, gate_code);
  } catch (const std::exception& e) {
    MT_LOG_ERROR("final report failed: %s", e.what());
  }
  control_.Cleanup();
  Leave();
}

void Watcher::Leave() {
  h_->watcher_state.store(4, std::memory_order_release);
  _exit(0);  // never the program's atexit handlers or destructors
}

void Watcher::Serve() {
  const Request& r = h_->request;
  GlibcStats glibc;
  glibc.known = r.has_glibc != 0;
  glibc.free_bytes = r.glibc_free_bytes;
  glibc.mmapped_bytes = r.glibc_mmapped_bytes;
  glibc.arenas = r.glibc_arenas;
  switch (r.kind) {
    case RequestKind::kFinal:
      Final(r.end_how, r.status, glibc);
    case RequestKind::kDump: {
      flusher_->DrainUntil(r.ts, 1000);
      std::string where;
      Report("api", std::string(r.text, strnlen(r.text, sizeof(r.text))), glibc, &where, r.leaks != 0);
      h_->response.rc = where.empty() ? -1 : 0;
      size_t n = std::min(where.size(), sizeof(h_->response.where) - 1);
      memcpy(h_->response.where, where.data(), n);
      h_->response.where[n] = '\0';
      break;
    }
    case RequestKind::kMark: {
      flusher_->DrainUntil(r.ts, 1000);
      std::string label(r.text, strnlen(r.text, sizeof(r.text)));
      flusher_->Sample(label.empty() ? std::string("mark") : label, glibc);
      h_->response.rc = 0;
      break;
    }
    case RequestKind::kNone:
      h_->response.rc = -1;
      break;
  }
  h_->done.fetch_add(1, std::memory_order_release);
  FutexWake(&h_->done, 64);
}

void Watcher::Run() {
  pid_ = h_->pid;
  if (pidfd_ < 0) pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  // Until the program's own maps are read: ours, a copy of its layout at the
  // fork, so that a program that dies at once is still symbolized.
  maps_ = ReadProcMapsText(static_cast<int>(getpid()));
  if (absl::StatusOr<std::vector<LoadedModule>> own = ReadProcessModules(static_cast<int>(getpid())); own.ok()) {
    modules_ = std::move(*own);
  }
  {
    char path[64], buf[64] = {};
    snprintf(path, sizeof(path), "/proc/%d/comm", pid_);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    if (n > 0) comm_.assign(buf, static_cast<size_t>(n));
  }
  const Config& c = *setup_.config;
  Flusher::Options options;
  options.pid = pid_;
  options.all_sites = c.all_sites;
  options.sample_bytes = c.sample_bytes;
  options.clock_name = setup_.clock_name;
  options.fence_name = setup_.fence_name;
  options.unwinder_name = setup_.unwinder_name;
  options.program_private_bytes = setup_.private_bytes;
  flusher_ = new Flusher(setup_.slots, std::move(options));
  flusher_->set_cuda_status(&CudaFromHeader);
  flusher_->set_watcher_memory(&OwnRss);
  ReportWriter::Options wo;
  wo.output = c.output;
  wo.format = c.format;
  wo.top = c.top;
  wo.keep = c.keep;
  // A fork child's reports: a path without %p gets ".PID".
  wo.start_pid = h_->forked != 0 ? h_->parent_pid : pid_;
  wo.owns_names = setup_.owns_report_names;  // else a program a traced process started: ".PID" too
  wo.format_explicit = c.format_explicit;
  wo.max_sites = c.max_sites;
  wo.libc_lines = c.libc_lines;
  wo.modules = &modules_;  // refreshed before every report; the last ones after death
  writer_ = new ReportWriter(wo);
  control_.Init(c.control_dir, pid_);
  std::vector<scan::AddressRange> own;
  for (int i = 0; i < setup_.own_range_count; ++i) own.push_back({setup_.own_ranges[i].start, setup_.own_ranges[i].end});
  own.push_back({g_region.base(), g_region.base() + g_region.size()});
  leaks_ = new LeakCheck(c, std::move(own));
  exec_check_ = access(RegionPath(pid_).c_str(), F_OK) == 0;
  h_->watcher_state.store(2, std::memory_order_release);
  RefreshMaps(true);

  uint32_t seen_signals = 0;  // a signal that came before we ran is still a request
  uint32_t served = h_->done.load(std::memory_order_acquire);
  int idle_rounds = 0;
  uint64_t now = MonotonicNanos();
  uint64_t next_interval = c.interval_ns > 0 ? now + c.interval_ns : UINT64_MAX;
  uint64_t next_sample = c.sample_period_ns > 0 ? now : UINT64_MAX;
  uint64_t next_poll = now + kPollPeriodNs;
  uint64_t next_exec_check = now + kExecCheckPeriodNs;
  for (;;) {
    uint32_t wake = h_->wake.load(std::memory_order_acquire);
    size_t progress = 0;
    try {
      progress = flusher_->Round();
    } catch (const std::bad_alloc&) {
      // Out of memory in the watcher: the tables could not grow. The rings
      // are drained anyway (the events of this round are lost, and counted)
      // so that the program never waits on us.
      MT_LOG_ERROR("out of memory in the watcher; some events were dropped");
    }
    now = MonotonicNanos();
    h_->watcher_heartbeat_ns.store(now, std::memory_order_relaxed);
    if (Dead()) AfterDeath();
    if (h_->seq.load(std::memory_order_acquire) != served) {
      Serve();
      served = h_->done.load(std::memory_order_acquire);
    }
    uint32_t signals = h_->signal_requests.load(std::memory_order_acquire);
    if (signals != seen_signals) {
      seen_signals = signals;
      flusher_->DrainUntil(ClockNowFenced(), 1000);
      Report("signal", "", {});
    }
    if (now >= next_interval) {
      flusher_->DrainUntil(ClockNowFenced(), 1000);
      Report("interval", "", {}, nullptr, c.interval_leaks);
      next_interval = MonotonicNanos() + c.interval_ns;
    }
    if (now >= next_sample) {
      flusher_->Sample("");
      next_sample = now + c.sample_period_ns;
    }
    if (now >= next_poll) {
      std::string path;
      bool leaks = false;
      if (control_.Poll(&path, &leaks)) {
        flusher_->DrainUntil(ClockNowFenced(), 1000);
        Report("signal", path, {}, nullptr, leaks);
      }
      RefreshMaps(false);
      next_poll = MonotonicNanos() + kPollPeriodNs;
    }
    if (now >= next_exec_check || h_->exec_pending.load(std::memory_order_relaxed) != 0) {
      // After an exec the region is gone from the program's address space:
      // the new image traces itself; this watcher has nothing left to say.
      bool gone = exec_check_ ? access(RegionPath(pid_).c_str(), F_OK) != 0 && errno == ENOENT : Execed();
      if (gone && !Dead()) Leave();
      next_exec_check = MonotonicNanos() + kExecCheckPeriodNs;
    }
    // Pace: spin only while events pour in (a busy watcher on another CPU
    // costs the program TLB-shootdown interrupts on every munmap); otherwise
    // sleep on the wake word, which the report signal and requests bump.
    uint64_t wait;
    if (progress >= kBusyRoundEvents) {
      idle_rounds = 0;
      continue;
    } else if (progress > 0) {
      idle_rounds = 0;
      wait = kTrickleWaitNs;
    } else {
      idle_rounds = std::min(idle_rounds + 1, 50);
      wait = 100000ull * static_cast<uint64_t>(idle_rounds);
    }
    uint64_t deadline = std::min({next_interval, next_sample, next_poll});
    now = MonotonicNanos();
    wait = deadline > now ? std::min(wait, deadline - now) : 0;
    if (wait > 0) FutexWait(&h_->wake, wake, wait);
  }
}

}  // namespace

}  // namespace memtrace::watcher

namespace memtrace::watcher {

int RunWatcher(const WatcherHandoff& handoff) {
  try {
    Watcher w(handoff);
    w.Run();
  } catch (...) {
    MT_LOG_ERROR("the watcher failed; reports stop here");
  }
  g_region.header()->watcher_state.store(4, std::memory_order_release);
  return 1;
}

}  // namespace memtrace::watcher
