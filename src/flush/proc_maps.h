// The kernel's view of the traced process's mappings (/proc/PID/maps): used at
// snapshot time to name the files behind live file mappings and to show what
// is mapped that the hooks never saw. The watcher keeps the last text it read,
// so that a process that died can still be described.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace memtrace {

struct ProcMapping {
  uint64_t start, end;
  std::string path;  // empty for anonymous memory; "[heap]", "[stack]", ... for special ones
};

// The text of /proc/PID/maps; empty if it cannot be read (the process is gone).
std::string ReadProcMapsText(int pid);
// Parsed, sorted by start.
std::vector<ProcMapping> ParseProcMaps(const std::string& text);

}  // namespace memtrace
