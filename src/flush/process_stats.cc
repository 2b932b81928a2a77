// RSS and glibc arena statistics (see process_stats.h).
#include "src/flush/process_stats.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace memtrace {

uint64_t ReadRssBytes(int pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/statm", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  unsigned long long size = 0, resident = 0;
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

GlibcStats ReadGlibcStats() {
  GlibcStats s;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  s.free_bytes = mi.fordblks;
  s.mmapped_bytes = mi.hblkhd;
  s.known = true;
#endif
  // malloc_info's XML has one <heap nr="..."> per arena.
  char* buf = nullptr;
  size_t len = 0;
  if (FILE* f = open_memstream(&buf, &len)) {
    malloc_info(0, f);
    fclose(f);
    for (const char* p = buf; p != nullptr && (p = strstr(p, "<heap nr=")) != nullptr; ++p) ++s.arenas;
    free(buf);
  }
  return s;
}

}  // namespace memtrace
