// What the OS and glibc say about this process's memory, for the timeline:
// resident set size (/proc/self/statm) and glibc's arenas (mallinfo2 and the
// arena count from malloc_info). Read by the flusher, never from a hook.
#pragma once

#include <cstdint>

namespace memtrace {

struct ProcessStats {
  uint64_t rss_bytes = 0;
  uint64_t glibc_free_bytes = 0;     // mallinfo2().fordblks: held in arenas, free
  uint64_t glibc_mmapped_bytes = 0;  // mallinfo2().hblkhd: blocks glibc mmapped itself
  uint64_t glibc_arenas = 0;
};

uint64_t ReadRssBytes();
ProcessStats ReadProcessStats();

}  // namespace memtrace
