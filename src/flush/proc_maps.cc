// /proc/PID/maps reader (see proc_maps.h).
#include "src/flush/proc_maps.h"

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace memtrace {

std::string ReadProcMapsText(int pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/maps", pid);
  std::string text;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

std::vector<ProcMapping> ParseProcMaps(const std::string& text) {
  std::vector<ProcMapping> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ProcMapping m{};
    int path_at = 0;
    if (sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %*s %*s %*s %*s %n", &m.start, &m.end, &path_at) < 2) continue;
    if (path_at > 0 && static_cast<size_t>(path_at) <= line.size()) {
      m.path = line.substr(static_cast<size_t>(path_at));
      while (!m.path.empty() && m.path.back() == ' ') m.path.pop_back();
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace memtrace
