// Bounded reading of a saved report (see report_reader.h).
#include "src/cli/report_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "src/report/json_text.h"
#include "src/report/render.h"

namespace memtrace {

absl::StatusOr<ReportDoc> ReadJsonReport(const std::string& path, uint64_t max_bytes) {
  std::string name = Printable(path);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(name, ": cannot read: ", strerror(errno)));
  std::string bytes;
  constexpr size_t kBlock = 1 << 20;
  bool checked_start = false;
  while (true) {
    if (bytes.size() >= max_bytes) {
      // One byte more than the bound: the file is larger.
      char probe;
      ssize_t n = read(fd, &probe, 1);
      if (n > 0) {
        close(fd);
        return absl::InvalidArgumentError(absl::StrCat(name, ": larger than ", HumanBytes(max_bytes),
                                                       " (raise the bound with --max-input)"));
      }
      break;
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, max_bytes - bytes.size()));
    size_t old = bytes.size();
    bytes.resize(old + want);
    ssize_t n = read(fd, bytes.data() + old, want);
    if (n < 0 && errno == EINTR) {
      bytes.resize(old);
      continue;
    }
    if (n < 0) {
      int e = errno;
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat(name, ": cannot read: ", strerror(e)));
    }
    bytes.resize(old + static_cast<size_t>(n));
    if (n == 0) break;
    if (!checked_start) {
      // A report starts with '{' after optional white space: anything else
      // is refused without reading the rest (a device, a binary).
      json::Cursor c(bytes);
      char first = c.Peek();
      if (first != '\0' || c.pos() < bytes.size()) {
        checked_start = true;
        if (first != '{') break;  // ParseJsonReport says what it starts with
      }
    }
  }
  close(fd);
  absl::StatusOr<ReportDoc> doc = ParseJsonReport(bytes);
  if (!doc.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", doc.status().message()));
  return doc;
}

}  // namespace memtrace
