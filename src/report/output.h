// Where reports go: stderr, or a file named by MEMTRACE_OUTPUT. Files are
// written whole to a private temporary and renamed into place, so a reader
// never sees half a report; they are created 0600 and never follow a symlink
// or replace a file that belongs to another user.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace memtrace {

// Expands %p (pid), %n (the report's sequence number) and %% in `pattern`.
// A forked child whose pattern has no %p gets ".<pid>" appended, so parent
// and child never write the same file.
std::string ExpandOutputPath(const std::string& pattern, int pid, uint64_t sequence, bool forked_child);
bool PatternHasSequence(const std::string& pattern);

// Writes `content` to `path` (see above). "/dev/null" is accepted and
// discards the report.
absl::Status WriteReportFile(const std::string& path, const std::string& content);
bool IsDiscardPath(const std::string& path);
void WriteToStderr(const std::string& content);

}  // namespace memtrace
