// A report trigger that needs no signal: `memtrace dump PID` writes a
// request to <dir>/<pid>.dump (control_protocol.h); the watcher of process
// <pid> polls for it every 100 ms, writes the report, and answers in
// <dir>/<pid>.ack.<token> (which the command reads and removes). Every
// report, asked for or not, is also recorded in <dir>/<pid>.last (what
// `memtrace dump --signal` waits for); a separate answer per token means an
// interval report right after cannot overwrite the answer before it is read. <dir> is
// MEMTRACE_CONTROL_DIR or /tmp/memtrace-<euid>, made 0700 by whichever side
// comes first and used only while it is a directory of ours that no one else
// can enter (safe_file.h, OpenPrivate): another user who made it first, or
// planted links in it, gets nothing from us -- the trigger is off, and says so.
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
  // True if a report was requested; `*path` is the requested output or empty,
  // `*leaks` whether it asked for a leak check. The request's token is kept
  // for the next Acknowledge.
  bool Poll(std::string* path, bool* leaks);
  // Records where the last report went, for `memtrace dump` (with the token
  // of the request just polled, if any).
  void Acknowledge(const std::string& where);
  // Removes this process's files (at exit).
  void Cleanup();

  static std::string DefaultDir();
  static std::string RequestName(int pid);
  static std::string AckName(int pid);
  static std::string AnswerName(int pid, const std::string& token);

 private:
  std::string dir_;
  std::string pending_token_;
  std::string last_answer_;  // the answer file written last (removed with the next, and at exit)
  int pid_ = 0;
};

}  // namespace memtrace
