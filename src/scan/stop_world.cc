// ptrace-based stop-the-world (see stop_world.h). Registers are read here; the
// architecture switch is the one #if below (x86-64 only for now).
#include "src/scan/stop_world.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "src/log.h"

#if !defined(__x86_64__)
#error "the reachability scan reads x86-64 registers; other architectures need their register set here"
#endif

namespace memtrace::scan {
namespace {

std::vector<pid_t> ListTasks(pid_t pid) {
  std::vector<pid_t> out;
  std::string path = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long tid = strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && tid > 0) out.push_back(static_cast<pid_t>(tid));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool ReadRegisters(pid_t tid, ThreadSnapshot* s) {
  struct user_regs_struct r;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &r) != 0) return false;
  s->sp = r.rsp;
  s->tp = r.fs_base;
  s->in_syscall = static_cast<int64_t>(r.orig_rax) >= 0;
  // memcheck's VG_(apply_to_GP_regs) on amd64: the 16 integer registers.
  s->gp_regs = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
                r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  return true;
}

// A thread that would not stop: if it sits in a system call, the kernel
// tells its stack pointer (/proc/PID/task/TID/syscall: "nr a1..a6 sp pc").
uint64_t StackPointerFromSyscall(pid_t pid, pid_t tid) {
  std::string path = absl::StrCat("/proc/", pid, "/task/", tid, "/syscall");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  if (strncmp(buf, "running", 7) == 0 || buf[0] == '-') return 0;
  char* p = buf;
  for (int field = 0; field < 7; ++field) {  // skip nr and six arguments
    p = strchr(p, ' ');
    if (p == nullptr) return 0;
    ++p;
  }
  return strtoull(p, nullptr, 16);
}

void SleepNs(uint64_t ns) {
  struct timespec ts = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  nanosleep(&ts, nullptr);
}

bool TaskExists(pid_t pid, pid_t tid) {
  std::string path = absl::StrCat("/proc/", pid, "/task/", tid);
  return access(path.c_str(), F_OK) == 0;
}

// Threads a previous scan could not detach (they had not stopped yet).
std::set<pid_t>& Leftovers() {
  static std::set<pid_t> tids;
  return tids;
}

void RetryLeftovers() {
  for (auto it = Leftovers().begin(); it != Leftovers().end();) {
    int st;
    pid_t r = waitpid(*it, &st, __WALL | WNOHANG);
    if (r == *it && WIFSTOPPED(st)) {
      ptrace(PTRACE_DETACH, *it, nullptr, nullptr);
      it = Leftovers().erase(it);
    } else if (r < 0) {
      it = Leftovers().erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint32_t StoppedWorld::stopped() const {
  uint32_t n = 0;
  for (const auto& s : snapshots_) n += s.stopped;
  return n;
}

absl::StatusOr<std::unique_ptr<StoppedWorld>> StoppedWorld::Stop(pid_t pid, const StopOptions& options) {
  RetryLeftovers();
  auto world = std::unique_ptr<StoppedWorld>(new StoppedWorld(pid));
  world->started_ns_ = MonotonicNs();
  uint64_t deadline = world->started_ns_ + options.total_timeout_ns;
  std::set<pid_t> known;
  for (int round = 0; round < 64; ++round) {
    std::vector<pid_t> tids = ListTasks(pid);
    if (tids.empty() && round == 0) return absl::NotFoundError(absl::StrCat("no process ", pid));
    std::vector<size_t> fresh;
    for (pid_t tid : tids) {
      if (!known.insert(tid).second) continue;
      int seized = ptrace(PTRACE_SEIZE, tid, nullptr, nullptr);
      // EPERM for one thread of a process we may trace: it is exiting
      // (PF_EXITING). Wait until it is gone, or retry.
      for (int retry = 0; seized != 0 && errno == EPERM && !world->tracees_.empty() && retry < 50; ++retry) {
        SleepNs(200000);
        if (!TaskExists(pid, tid)) break;
        seized = ptrace(PTRACE_SEIZE, tid, nullptr, nullptr);
      }
      if (seized != 0 && !TaskExists(pid, tid)) continue;  // exited meanwhile
      if (seized != 0) {
        if (errno == ESRCH) continue;  // exited meanwhile
        int err = errno;
        if (world->tracees_.empty()) {
          return absl::PermissionDeniedError(absl::StrCat("cannot ptrace ", pid, " (thread ", tid, "): ", strerror(err),
                                                          err == EPERM ? "; traced by another process, or not allowed"
                                                                       : ""));
        }
        MT_LOG_WARN("scan: cannot ptrace thread %d: %s", tid, strerror(err));
        ThreadSnapshot s;
        s.tid = tid;
        s.sp = StackPointerFromSyscall(pid, tid);
        world->snapshots_.push_back(std::move(s));
        continue;
      }
      if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno == ESRCH) {
        ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
        continue;
      }
      world->tracees_.push_back({tid});
      fresh.push_back(world->tracees_.size() - 1);
    }
    if (fresh.empty()) break;
    // Wait for each new tracee to stop, each within its bound.
    for (size_t k : fresh) {
      Tracee& t = world->tracees_[k];
      uint64_t give_up = std::min(deadline, MonotonicNs() + options.thread_timeout_ns);
      uint64_t nap = 20000;
      for (;;) {
        int st = 0;
        pid_t r = waitpid(t.tid, &st, __WALL | WNOHANG);
        if (r == t.tid) {
          if (WIFSTOPPED(st)) {
            t.stopped = true;
            // PTRACE_EVENT_STOP: our interrupt (or a group stop). Anything
            // else is a signal on its way in: hand it back at detach.
            if ((st >> 16) != PTRACE_EVENT_STOP) t.resend_signal = WSTOPSIG(st);
          } else {
            t.tid = 0;  // exited
          }
          break;
        }
        if (r < 0) {
          t.tid = 0;  // gone (ECHILD)
          break;
        }
        if (MonotonicNs() >= give_up) break;
        SleepNs(nap);
        nap = std::min<uint64_t>(nap * 2, 2000000);
      }
    }
    if (MonotonicNs() >= deadline) break;
  }
  world->stop_latency_ns_ = MonotonicNs() - world->started_ns_;
  for (Tracee& t : world->tracees_) {
    if (t.tid == 0) continue;
    ThreadSnapshot s;
    s.tid = t.tid;
    if (t.stopped && ReadRegisters(t.tid, &s)) {
      s.stopped = true;
    } else {
      s.sp = StackPointerFromSyscall(pid, t.tid);
    }
    world->snapshots_.push_back(std::move(s));
  }
  std::sort(world->snapshots_.begin(), world->snapshots_.end(),
            [](const ThreadSnapshot& a, const ThreadSnapshot& b) { return a.tid < b.tid; });
  // The main thread (tid == pid) first: index 0 in every result.
  auto main_it = std::find_if(world->snapshots_.begin(), world->snapshots_.end(),
                              [&](const ThreadSnapshot& s) { return s.tid == pid; });
  if (main_it != world->snapshots_.end()) std::rotate(world->snapshots_.begin(), main_it, main_it + 1);
  return world;
}

void StoppedWorld::Resume() {
  if (resumed_) return;
  resumed_ = true;
  for (Tracee& t : tracees_) {
    if (t.tid == 0) continue;
    if (!t.stopped) {
      // The interrupt may land any moment: wait a little more, then leave it
      // for the next scan (or the watcher's exit) to detach.
      int st;
      uint64_t give_up = MonotonicNs() + 100000000;
      while (MonotonicNs() < give_up) {
        pid_t r = waitpid(t.tid, &st, __WALL | WNOHANG);
        if (r == t.tid && WIFSTOPPED(st)) {
          t.stopped = true;
          if ((st >> 16) != PTRACE_EVENT_STOP) t.resend_signal = WSTOPSIG(st);
          break;
        }
        if (r != 0) break;
        SleepNs(1000000);
      }
      if (!t.stopped) {
        Leftovers().insert(t.tid);
        continue;
      }
    }
    ptrace(PTRACE_DETACH, t.tid, nullptr, reinterpret_cast<void*>(static_cast<uintptr_t>(t.resend_signal)));
  }
}

}  // namespace memtrace::scan
