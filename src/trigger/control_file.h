// A report trigger that needs no signal: `memtrace dump PID` creates
// <dir>/<pid>.dump (its content, if any, is the output path); the watcher of
// process <pid> polls for it every 100 ms, writes the report, and records where it went in
// <dir>/<pid>.last. <dir> is MEMTRACE_CONTROL_DIR or /tmp/memtrace-<uid>,
// created 0700 and accepted only if it belongs to us and no one else can
// write it, so only the same user can trigger a report.
#pragma once

#include <string>

namespace memtrace {

class ControlFile {
 public:
  // `setting`: MEMTRACE_CONTROL_DIR ("" = default, "none" = disabled);
  // `pid`: the traced process the files are named after.
  bool Init(const std::string& setting, int pid);
  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  // True if a report was requested; `*path` is the requested output or empty.
  bool Poll(std::string* path);
  // Records where the last report went, for `memtrace dump`.
  void Acknowledge(const std::string& where);
  // Removes this process's files (at exit).
  void Cleanup();

  static std::string DefaultDir();

 private:
  std::string PidFile(const char* suffix) const;
  std::string dir_;
  int pid_ = 0;
};

}  // namespace memtrace
