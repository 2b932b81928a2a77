// /proc/PID/maps parsing. One line: "start-end perms offset dev inode   path".
#include "src/scan/maps.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtrace::scan {
namespace {

bool ParseHex(std::string_view& s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  if (ec != std::errc() || p == s.data()) return false;
  s.remove_prefix(p - s.data());
  return true;
}

bool ParseDec(std::string_view& s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  if (ec != std::errc() || p == s.data()) return false;
  s.remove_prefix(p - s.data());
  return true;
}

bool Skip(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

void SkipSpaces(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
}

bool ParseLine(std::string_view s, Mapping* m) {
  if (!ParseHex(s, &m->start) || !Skip(s, '-') || !ParseHex(s, &m->end) || !Skip(s, ' ')) return false;
  if (s.size() < 5) return false;
  m->read = s[0] == 'r';
  m->write = s[1] == 'w';
  m->exec = s[2] == 'x';
  m->shared = s[3] == 's';
  s.remove_prefix(4);
  SkipSpaces(s);
  if (!ParseHex(s, &m->offset)) return false;
  SkipSpaces(s);
  // dev "fd:01"
  size_t sp = s.find(' ');
  if (sp == std::string_view::npos) return false;
  s.remove_prefix(sp);
  SkipSpaces(s);
  if (!ParseDec(s, &m->inode)) return false;
  SkipSpaces(s);
  m->path.assign(s.data(), s.size());
  return m->start < m->end;
}

}  // namespace

std::vector<Mapping> ParseMaps(std::string_view text) {
  std::vector<Mapping> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    Mapping m;
    if (ParseLine(line, &m)) out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  return out;
}

absl::StatusOr<std::vector<Mapping>> ReadMaps(pid_t pid) {
  std::string path = absl::StrCat("/proc/", pid, "/maps");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, n);
  }
  close(fd);
  return ParseMaps(text);
}

const Mapping* MappingIndex::Find(uint64_t addr) const {
  const auto& m = *maps_;
  auto it = std::upper_bound(m.begin(), m.end(), addr, [](uint64_t a, const Mapping& x) { return a < x.start; });
  if (it == m.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

}  // namespace memtrace::scan
