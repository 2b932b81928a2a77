// glibc's own view of the heap (see glibc_stats.h).
#include "src/capture/glibc_stats.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace memtrace {

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
