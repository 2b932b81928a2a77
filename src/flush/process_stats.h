// What the OS says about the traced process's memory, for the timeline: its
// resident set size (/proc/PID/statm, read by the watcher). glibc's own view
// comes from the program itself (src/capture/glibc_stats.h).
#pragma once

#include <cstdint>

#include "src/capture/glibc_stats.h"

namespace memtrace {

// The resident set of process `pid` (0 when /proc cannot tell).
uint64_t ReadRssBytes(int pid);

}  // namespace memtrace
