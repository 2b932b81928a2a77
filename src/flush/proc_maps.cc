// /proc/self/maps reader (see proc_maps.h).
#include "src/flush/proc_maps.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace memtrace {

std::vector<ProcMapping> ReadProcMaps() {
  std::vector<ProcMapping> out;
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) return out;
  char line[4096 + 256];
  while (fgets(line, sizeof(line), f) != nullptr) {
    ProcMapping m{};
    int path_at = 0;
    if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %*s %*s %*s %n", &m.start, &m.end, &path_at) < 2) continue;
    if (path_at > 0) {
      m.path = line + path_at;
      while (!m.path.empty() && (m.path.back() == '\n' || m.path.back() == ' ')) m.path.pop_back();
    }
    out.push_back(std::move(m));
  }
  fclose(f);
  return out;
}

}  // namespace memtrace
