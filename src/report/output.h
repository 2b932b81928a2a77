// Where reports go: stderr, or a file named by MEMTRACE_OUTPUT. Files are
// written whole to a private temporary and renamed into place, so a reader
// never sees half a report; they are created 0600 and never follow a symlink
// or replace a file that belongs to another user (safe_file.h has the rules).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "src/report/safe_file.h"

namespace memtrace {

// Expands %p (pid), %n (the report's sequence number) and %% in `pattern`.
// A process that does not own the names (a forked child, or a program
// started by a traced process: ReportWriter::Options::owns_names) gets
// ".<pid>" appended when the pattern has no %p, so related processes never
// write the same file.
std::string ExpandOutputPath(const std::string& pattern, int pid, uint64_t sequence, bool forked_child);
bool PatternHasSequence(const std::string& pattern);


// Writes `content` to `path` (see above). "/dev/null" is accepted and
// discards the report.
// `id`, if given, receives the file written (for rotation: only that file is
// ever removed).
absl::Status WriteReportFile(const std::string& path, const std::string& content,
                             safe_file::FileId* id = nullptr);
bool IsDiscardPath(const std::string& path);
void WriteToStderr(const std::string& content);

}  // namespace memtrace
