// The target's mappings, from /proc/PID/maps: where roots can be, which
// memory is a module's, a thread stack's or the heap's, and which addresses
// are readable (the multiple-inheritance heuristic checks vtables).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace memtrace::scan {

struct Mapping {
  uint64_t start = 0, end = 0;
  bool read = false, write = false, exec = false, shared = false;
  uint64_t offset = 0;
  uint64_t inode = 0;  // 0: anonymous (or a special mapping)
  std::string path;    // "" anonymous; "[heap]", "[stack]", "[vdso]", ...; a file's path

  bool file_backed() const { return inode != 0; }
  bool anonymous() const { return inode == 0 && (path.empty() || path.rfind("[anon", 0) == 0); }
};

// Parses the text of a maps file; lines that do not parse are skipped.
std::vector<Mapping> ParseMaps(std::string_view text);
absl::StatusOr<std::vector<Mapping>> ReadMaps(pid_t pid);

// Lookup in a sorted, non-overlapping mapping list.
class MappingIndex {
 public:
  explicit MappingIndex(const std::vector<Mapping>* maps) : maps_(maps) {}
  const Mapping* Find(uint64_t addr) const;  // nullptr when unmapped
  const std::vector<Mapping>& maps() const { return *maps_; }

 private:
  const std::vector<Mapping>* maps_;
};

}  // namespace memtrace::scan
