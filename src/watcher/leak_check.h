// The leak check, in the watcher: the reachability scan of the live program
// (src/scan/: stop the world with ptrace, read its memory, classify as
// memcheck does), suppressions, and the CI gate's verdict.
//
// When: at the final report of a program that is still there (exit, _exit),
// on request (memtrace_dump_leaks, `memtrace dump --leaks`), and with every
// interval report when MEMTRACE_INTERVAL_LEAKS=1. Never after a death: the
// memory is gone; the gate then counts every live byte of the heap and of
// tracked mappings, and says so.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/report/snapshot.h"
#include "src/scan/gate.h"
#include "src/scan/scan_types.h"
#include "src/scan/suppressions.h"

namespace memtrace {

class Flusher;
struct Config;
struct LoadedModule;

class LeakCheck {
 public:
  // Reads MEMTRACE_SUPPRESSIONS and the built-in list (errors: one line each).
  // `own`: the tracer's memory in the program (never a root, never counted).
  LeakCheck(const Config& config, std::vector<scan::AddressRange> own);

  // Stops `pid`, lets the flusher take what the stopped threads published,
  // scans, resumes, and hands the result to the flusher for its next
  // snapshot. `exit_floor_*`: the exiting thread's frames end there (0: none).
  // False (with a line on stderr) if the scan could not run.
  bool Scan(pid_t pid, Flusher& flusher, pid_t exit_floor_tid, uint64_t exit_floor_sp);

  // Moves the lost bytes of sites a suppression matches into `suppressed`
  // (symbolizing those sites with `modules`), fills suppressions_used and
  // the totals. Then the gate: `gate` applies to this process.
  scan::GateVerdict Finish(Snapshot& snapshot, const std::vector<LoadedModule>& modules, bool libc_lines, bool gate);

 private:
  const Config& config_;
  std::vector<scan::AddressRange> own_;
  scan::Suppressions suppressions_;
  scan::GateConfig gate_;
};

// The gate without a scan (the process is gone): every live byte of the heap
// and of tracked mappings counts.
scan::GateVerdict GateWithoutScan(const Snapshot& snapshot, const Config& config, bool gate);

}  // namespace memtrace
