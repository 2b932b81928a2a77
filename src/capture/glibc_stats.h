// glibc's view of the calling process's heap (mallinfo2 and the arena count
// from malloc_info). Only a thread of the program can ask: it does so when it
// asks its watcher for a report (memtrace_dump, memtrace_mark, exit) and hands
// the numbers over in the request.
#pragma once

#include <cstdint>

namespace memtrace {

struct GlibcStats {
  bool known = false;                // measured for this point
  uint64_t free_bytes = 0;           // mallinfo2().fordblks: held in arenas, free
  uint64_t mmapped_bytes = 0;        // mallinfo2().hblkhd: blocks glibc mmapped itself
  uint64_t arenas = 0;
};

// Takes every arena lock: call it from a program thread outside any hook.
GlibcStats ReadGlibcStats();

}  // namespace memtrace
