// Report files and stderr (see output.h).
#include "src/report/output.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtrace {
namespace {

bool WriteAll(int fd, const std::string& content) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

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

absl::Status WriteReportFile(const std::string& path, const std::string& content) {
  if (IsDiscardPath(path)) return absl::OkStatus();  // asked for no report file
  struct stat st{};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a regular file"));
    if (st.st_uid != geteuid()) return absl::PermissionDeniedError(absl::StrCat(path, " belongs to another user"));
  }
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {  // a stale temporary of a dead process with our pid
    unlink(tmp.c_str());
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  }
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", tmp));
  bool ok = WriteAll(fd, content);
  int close_rc = close(fd);
  if (!ok || close_rc != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return absl::ErrnoToStatus(e, absl::StrCat("cannot write ", tmp));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return absl::ErrnoToStatus(e, absl::StrCat("cannot rename ", tmp, " to ", path));
  }
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
