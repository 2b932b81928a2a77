// What the OS and glibc say about the traced process's memory, for the
// timeline: its resident set size (/proc/PID/statm, read by the watcher) and
// glibc's arenas (mallinfo2 and the arena count from malloc_info), which only
// a thread of the program itself can measure: it does so when it asks for a
// report (memtrace_dump, memtrace_mark, exit) and hands the numbers over.
#pragma once

#include <cstdint>

namespace memtrace {

struct GlibcStats {
  bool known = false;                // measured for this point
  uint64_t free_bytes = 0;           // mallinfo2().fordblks: held in arenas, free
  uint64_t mmapped_bytes = 0;        // mallinfo2().hblkhd: blocks glibc mmapped itself
  uint64_t arenas = 0;
};

struct ProcessStats {
  uint64_t rss_bytes = 0;
  GlibcStats glibc;
};

// The resident set of process `pid` (0 when /proc cannot tell).
uint64_t ReadRssBytes(int pid);
// glibc's view of the calling process's heap. Takes every arena lock: call it
// from a program thread outside any hook, never from the watcher.
GlibcStats ReadGlibcStats();

}  // namespace memtrace
