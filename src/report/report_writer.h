// Renders snapshots and writes them where MEMTRACE_OUTPUT (or the caller)
// says: one or more outputs (comma-separated), each in the format its name
// asks for (.json, .pb.gz, .folded, .html, else text; MEMTRACE_FORMAT
// overrides), %p/%n expanded, written whole and renamed into place, and with
// %n only the newest MEMTRACE_KEEP files kept. Without %n every report
// replaces the previous one, so the file always holds the latest complete
// report (it survives an OOM kill or exit_group). /dev/null discards.
// Rotation removes only files this writer wrote, and only while the name
// still holds the very file written (safe_file.h): never another process's.
// Thread-safe: reports come from the flusher, the program (API) and exit.
//
// Nothing here asks which process it runs in: the process id comes from the
// snapshot, so the writer works the same in the traced process and outside it.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "src/config/config.h"
#include "src/report/module_map.h"
#include "src/report/safe_file.h"
#include "src/report/snapshot.h"

namespace memtrace {

class ReportWriter {
 public:
  struct Options {
    std::string output;  // pattern(s), comma-separated; empty = stderr
    ReportFormat format = ReportFormat::kText;
    int top = 10;
    int keep = 5;
    int start_pid = 0;        // the traced process; a snapshot of another pid is a forked child's
    // This process owns MEMTRACE_OUTPUT's names (it was started under the
    // tracer: src/runtime.cc); if not, every output without %p gets ".<pid>".
    bool owns_names = true;
    bool libc_lines = false;  // MEMTRACE_LIBC_LINES (symbolizer.h)
    bool format_explicit = false;  // `format` applies to every output, whatever its name
    uint64_t max_sites = 10000;    // MEMTRACE_MAX_SITES
    // The traced process's modules as last read, kept by the caller (a
    // process that is gone is symbolized from them); null or empty: read
    // /proc/PID/maps now.
    const std::vector<LoadedModule>* modules = nullptr;
  };
  explicit ReportWriter(Options options) : options_(std::move(options)) {}

  // Writes the report; returns where it went ("stderr" or the path(s),
  // comma-separated). `explicit_path` overrides the configured output (its
  // extension chooses the format).
  std::string Write(const Snapshot& snapshot, const std::string& explicit_path);

 private:
  Options options_;
  std::mutex mu_;
  struct Kept {
    std::string path;
    safe_file::FileId id;
  };
  std::deque<Kept> kept_;  // %n files written, oldest first
};

// The outputs a MEMTRACE_OUTPUT value lists (comma-separated, empty items
// dropped).
std::vector<std::string> SplitOutputs(const std::string& value);

}  // namespace memtrace
