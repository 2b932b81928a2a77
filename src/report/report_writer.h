// Renders snapshots and writes them where MEMTRACE_OUTPUT (or the caller)
// says: text or JSON, %p/%n expanded, written whole and renamed into place,
// and with %n only the newest MEMTRACE_KEEP files kept. Without %n every
// report replaces the previous one, so the file always holds the latest
// complete report. Runs in the watcher process, about snapshot.pid.
#pragma once

#include <deque>
#include <mutex>
#include <string>

#include "src/config/config.h"
#include "src/report/module_map.h"
#include "src/report/snapshot.h"

namespace memtrace {

class ReportWriter {
 public:
  struct Options {
    std::string output;  // pattern; empty = stderr
    ReportFormat format = ReportFormat::kText;
    int top = 10;
    int keep = 5;
    bool forked = false;       // the traced process is a fork child (a path without %p gets ".PID")
    bool libc_lines = false;   // MEMTRACE_LIBC_LINES (symbolizer.h)
    // The traced process's modules as last read (a process that is gone is
    // symbolized from them); null or empty: read /proc/PID/maps now.
    const std::vector<LoadedModule>* modules = nullptr;
  };
  explicit ReportWriter(Options options) : options_(std::move(options)) {}

  // Writes the report; returns where it went ("stderr" or the path).
  // `explicit_path` overrides the configured output (a ".json" name gets JSON).
  std::string Write(const Snapshot& snapshot, const std::string& explicit_path);

 private:
  Options options_;
  std::mutex mu_;
  std::deque<std::string> kept_;  // %n files written, oldest first
};

}  // namespace memtrace
