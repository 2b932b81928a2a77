// Mapping churn for the benchmarks: N rounds of anonymous mappings of mixed
// sizes (4 KiB - 1 MiB), touched, partly unmapped from either end, grown or
// moved with mremap, plus read-only mappings of a small file; every mapping
// is gone at the end but one in 1000 (kept). Also a malloc/free pair per
// round so the heap is not idle. Prints the operation count.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace {

void* volatile g_kept[1024];
void* volatile g_sink;

}  // namespace

int main(int argc, char** argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 100000;
  char path[] = "/tmp/mtbench_mmap_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  unlink(path);
  static char page[65536];
  if (write(fd, page, sizeof(page)) != static_cast<ssize_t>(sizeof(page))) return 1;
  const size_t kPage = 4096;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  long ops = 0;
  for (long i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t pages = 1 + x % 256;
    size_t len = pages * kPage;
    auto* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) return 1;
    p[0] = 1;
    ++ops;
    if (i % 1000 == 999) {
      g_kept[(i / 1000) % 1024] = p;
      continue;
    }
    if (pages > 2 && (x & 3) == 0) {  // trim one page from each end
      munmap(p, kPage);
      munmap(p + len - kPage, kPage);
      p += kPage;
      len -= 2 * kPage;
      ops += 2;
    } else if ((x & 3) == 1) {  // grow, possibly moving
      void* q = mremap(p, len, len + 4 * kPage, MREMAP_MAYMOVE);
      if (q == MAP_FAILED) return 1;
      p = static_cast<char*>(q);
      len += 4 * kPage;
      ++ops;
    }
    munmap(p, len);
    ++ops;
    if ((x & 15) == 2) {
      void* f = mmap(nullptr, sizeof(page), PROT_READ, MAP_PRIVATE, fd, 0);
      if (f == MAP_FAILED) return 1;
      munmap(f, sizeof(page));
      ops += 2;
    }
    g_sink = malloc(64);
    free(g_sink);
  }
  close(fd);
  printf("ops %ld\n", ops);
  return 0;
}
