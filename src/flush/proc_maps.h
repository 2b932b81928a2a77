// The kernel's view of this process's mappings (/proc/self/maps): used at
// snapshot time to name the files behind live file mappings and to show what
// is mapped that the hooks never saw.
#ifndef MEMTRACE_SRC_FLUSH_PROC_MAPS_H_
#define MEMTRACE_SRC_FLUSH_PROC_MAPS_H_

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

#endif  // MEMTRACE_SRC_FLUSH_PROC_MAPS_H_
