// The kernel's view of this process's mappings (/proc/self/maps): used at
// snapshot time to name the files behind live file mappings and to show what
// is mapped that the hooks never saw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace memtrace {

struct ProcMapping {
  uint64_t start, end;
  std::string path;  // empty for anonymous memory; "[heap]", "[stack]", ... for special ones
};

// Sorted by start; empty if /proc is not readable.
std::vector<ProcMapping> ReadProcMaps();

}  // namespace memtrace
