// Stopping every thread of another process for the scan, the way
// LeakSanitizer's StopTheWorld does from its helper: PTRACE_SEIZE and
// PTRACE_INTERRUPT each thread of /proc/PID/task, again until no new thread
// appears, wait for each to stop (bounded), read its registers, and detach
// at the end, handing back any signal that arrived meanwhile.
//
// The watcher may do this because the traced process allows it
// (prctl(PR_SET_PTRACER, watcher) under Yama), or because it is the parent.
// A thread that does not stop within the bound (uninterruptible sleep) is
// counted and left without registers: its stack is scanned whole. A thread
// that exits meanwhile is dropped. Another tracer (gdb, strace) makes the
// stop fail: the scan then reports that it could not run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "src/scan/roots.h"

namespace memtrace::scan {

struct StopOptions {
  uint64_t thread_timeout_ns = 500'000'000;  // per thread, from its PTRACE_INTERRUPT
  uint64_t total_timeout_ns = 5'000'000'000;
};

class StoppedWorld {
 public:
  static absl::StatusOr<std::unique_ptr<StoppedWorld>> Stop(pid_t pid, const StopOptions& options = {});
  ~StoppedWorld() { Resume(); }
  StoppedWorld(const StoppedWorld&) = delete;
  StoppedWorld& operator=(const StoppedWorld&) = delete;

  // Detaches every thread (idempotent). Returns when the target runs again.
  void Resume();

  pid_t pid() const { return pid_; }
  const std::vector<ThreadSnapshot>& threads() const { return snapshots_; }
  uint32_t stopped() const;
  uint32_t not_stopped() const { return static_cast<uint32_t>(snapshots_.size()) - stopped(); }
  uint64_t stop_latency_ns() const { return stop_latency_ns_; }
  uint64_t started_ns() const { return started_ns_; }  // CLOCK_MONOTONIC when the first thread was interrupted

 private:
  struct Tracee {
    pid_t tid;
    bool stopped = false;
    int resend_signal = 0;  // a signal it stopped for, handed back at detach
  };
  explicit StoppedWorld(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  std::vector<Tracee> tracees_;
  std::vector<ThreadSnapshot> snapshots_;
  uint64_t started_ns_ = 0, stop_latency_ns_ = 0;
  bool resumed_ = false;
};

uint64_t MonotonicNs();

}  // namespace memtrace::scan
