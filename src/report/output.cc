// Report files and stderr (see output.h).
#include "src/report/output.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtrace {
bool PatternHasSequence(const std::string& pattern) {
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] == '%') {
      if (pattern[i + 1] == 'n') return true;
      ++i;
    }
  }
  return false;
}

std::string ExpandOutputPath(const std::string& pattern, int pid, uint64_t sequence, bool forked_child) {
  std::string out;
  bool has_pid = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      char c = pattern[i + 1];
      if (c == 'p') {
        absl::StrAppend(&out, pid);
        has_pid = true;
        ++i;
        continue;
      }
      if (c == 'n') {
        absl::StrAppend(&out, sequence);
        ++i;
        continue;
      }
      if (c == '%') {
        out += '%';
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  if (forked_child && !has_pid) absl::StrAppend(&out, ".", pid);
  return out;
}

bool IsDiscardPath(const std::string& path) { return path == "/dev/null"; }

absl::Status WriteReportFile(const std::string& path, const std::string& content, safe_file::FileId* id) {
  if (IsDiscardPath(path)) return absl::OkStatus();  // asked for no report file
  absl::StatusOr<safe_file::FileId> written = safe_file::WriteFile(path, content);
  if (!written.ok()) return written.status();
  if (id != nullptr) *id = *written;
  return absl::OkStatus();
}

void WriteToStderr(const std::string& content) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(STDERR_FILENO, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace memtrace
