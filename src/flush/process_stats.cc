// RSS and glibc arena statistics (see process_stats.h).
#include "src/flush/process_stats.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace memtrace {

uint64_t ReadRssBytes() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  unsigned long long size = 0, resident = 0;
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

ProcessStats ReadProcessStats() {
  ProcessStats s;
  s.rss_bytes = ReadRssBytes();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  s.glibc_free_bytes = mi.fordblks;
  s.glibc_mmapped_bytes = mi.hblkhd;
#endif
  // malloc_info's XML has one <heap nr="..."> per arena.
  char* buf = nullptr;
  size_t len = 0;
  if (FILE* f = open_memstream(&buf, &len)) {
    malloc_info(0, f);
    fclose(f);
    for (const char* p = buf; p != nullptr && (p = strstr(p, "<heap nr=")) != nullptr; ++p) ++s.glibc_arenas;
    free(buf);
  }
  return s;
}

}  // namespace memtrace
