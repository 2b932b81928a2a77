// Renders snapshots and writes them where MEMTRACE_OUTPUT (or the caller)
// says: text or JSON, %p/%n expanded, written whole and renamed into place,
// and with %n only the newest MEMTRACE_KEEP files kept. Without %n every
// report replaces the previous one, so the file always holds the latest
// complete report (it survives an OOM kill or exit_group). Thread-safe:
// reports come from the flusher, the program (API) and exit.
#pragma once

#include <deque>
#include <mutex>
#include <string>

#include "src/config/config.h"
#include "src/report/snapshot.h"

namespace memtrace {

class ReportWriter {
 public:
  struct Options {
    std::string output;  // pattern; empty = stderr
    ReportFormat format = ReportFormat::kText;
    int top = 10;
    int keep = 5;
    int start_pid = 0;
    bool libc_lines = false;  // MEMTRACE_LIBC_LINES (symbolizer.h)
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
