// Reading, saving and restoring a process's module list (see module_map.h).
#include "src/report/module_map.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace memtrace {
namespace {

constexpr absl::string_view kDeleted = " (deleted)";

struct MapLine {
  uint64_t start, end, offset, inode;
  std::string perms, path;
};

bool ParseMapLine(const std::string& line, MapLine* out) {
  // start-end perms offset dev inode path
  std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 5), absl::SkipEmpty());
  if (f.size() < 6) return false;
  std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(f[0], absl::MaxSplits('-', 1));
  if (!absl::SimpleHexAtoi(range.first, &out->start) || !absl::SimpleHexAtoi(range.second, &out->end) ||
      !absl::SimpleHexAtoi(f[2], &out->offset) || !absl::SimpleAtoi(f[4], &out->inode)) {
    return false;
  }
  out->perms = std::string(f[1]);
  out->path = std::string(absl::StripLeadingAsciiWhitespace(f[5]));
  return true;
}

}  // namespace

bool ComputeBias(const std::string& path, uint64_t offset, uint64_t address, uint64_t* bias,
                 std::string* build_id) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  bool ok = false;
  size_t phnum = 0;
  if (elf != nullptr && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &phnum) == 0) {
    for (size_t i = 0; i < phnum && !ok; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
      uint64_t align = ph.p_align > 1 ? ph.p_align : 1;
      uint64_t seg_off = ph.p_offset & ~(align - 1);
      if (offset < seg_off || offset >= ph.p_offset + std::max(ph.p_filesz, uint64_t{1})) continue;
      // File offset `offset` is at `address`; its ELF address is p_vaddr + (offset - p_offset).
      *bias = address - (ph.p_vaddr + offset - ph.p_offset);
      ok = true;
    }
    const void* id = nullptr;
    ssize_t n = ok ? dwelf_elf_gnu_build_id(elf, &id) : -1;
    build_id->clear();
    for (ssize_t i = 0; i < n; ++i) absl::StrAppendFormat(build_id, "%02x", static_cast<const uint8_t*>(id)[i]);
  }
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return ok;
}

absl::StatusOr<std::vector<LoadedModule>> ReadProcessModules(int pid) {
  std::string maps_path = absl::StrCat("/proc/", pid, "/maps");
  std::ifstream in(maps_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", maps_path));
  std::vector<LoadedModule> out;
  std::string line;
  uint64_t last_inode = 0;
  while (std::getline(in, line)) {
    MapLine m;
    if (!ParseMapLine(line, &m) || m.inode == 0 || m.path.empty() || m.path[0] != '/') continue;
    absl::string_view path_view = m.path;
    bool deleted = absl::ConsumeSuffix(&path_view, kDeleted);
    m.path = std::string(path_view);
    if (!out.empty() && out.back().path == m.path && last_inode == m.inode) {
      out.back().end = std::max(out.back().end, m.end);  // another segment of the same file
      continue;
    }
    LoadedModule mod;
    mod.path = m.path;
    mod.start = m.start;
    mod.end = m.end;
    mod.deleted = deleted;
    // A deleted file is still reachable through the mapping itself while the process lives.
    std::string file = deleted ? absl::StrFormat("/proc/%d/map_files/%x-%x", pid, m.start, m.end) : m.path;
    if (!ComputeBias(file, m.offset, m.start, &mod.bias, &mod.build_id)) continue;  // not ELF (a data file)
    last_inode = m.inode;
    out.push_back(std::move(mod));
  }
  std::sort(out.begin(), out.end(), [](const LoadedModule& a, const LoadedModule& b) { return a.start < b.start; });
  return out;
}

std::string SerializeModules(const std::vector<LoadedModule>& modules) {
  std::string out;
  for (const LoadedModule& m : modules) {
    absl::StrAppendFormat(&out, "%x %x %x %s %s%s\n", m.start, m.end, m.bias, m.build_id.empty() ? "-" : m.build_id,
                          m.path, m.deleted ? kDeleted : "");
  }
  return out;
}

absl::StatusOr<std::vector<LoadedModule>> ParseModules(absl::string_view text) {
  std::vector<LoadedModule> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 4));
    LoadedModule m;
    if (f.size() != 5 || !absl::SimpleHexAtoi(f[0], &m.start) || !absl::SimpleHexAtoi(f[1], &m.end) ||
        !absl::SimpleHexAtoi(f[2], &m.bias) || f[4].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("bad module line: ", line));
    }
    if (f[3] != "-") m.build_id = std::string(f[3]);
    absl::string_view path = f[4];
    m.deleted = absl::ConsumeSuffix(&path, kDeleted);
    m.path = std::string(path);
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const LoadedModule& a, const LoadedModule& b) { return a.start < b.start; });
  return out;
}

}  // namespace memtrace
