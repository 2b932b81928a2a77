/* The reachability scan's benchmark workload (bench/run_bench.py, "scan"):
 * N blocks (default 1,000,000) holding about 1 GiB in all, 64 B to 2 KiB
 * each, shaped like a real heap: most reachable from globals through trees
 * of pointers, a tenth in lost chains; a few pointers per block, the rest
 * numbers and bytes. Then it stops at scan_blocklog_sync (the scan driver
 * stops the world and scans, --repeat times) and exits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void** volatile g_roots; /* exported and volatile: the only pointer to the table must stay in memory */
size_t g_nroots;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char** argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
  size_t target = argc > 2 ? strtoull(argv[2], NULL, 0) : (1ull << 30);
  size_t avg = target / n;  /* ~1074 bytes for 1 GiB in 1M blocks */
  void** blocks = malloc(n * sizeof(void*));
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t size = 64 + next() % (2 * avg - 127);
    size &= ~(size_t)7;
    uint64_t* b = malloc(size);
    size_t words = size / 8;
    for (size_t w = 0; w < words; ++w) {
      uint64_t r = next();
      switch (r & 3) {
        case 0: b[w] = r >> 40; break;                  /* small integers */
        case 1: b[w] = 0x3ff0000000000000ull | (r >> 12); break;  /* doubles */
        case 2: b[w] = 0x2065756c61762061ull ^ (r & 0x1f1f1f1f1f1f1f1full); break;  /* text */
        default: b[w] = r; break;
      }
    }
    blocks[i] = b;
    total += size;
  }
  /* Pointers: each block points to up to 3 later ones (a forest), and one
   * word somewhere back to its parent (an interior-free start pointer). */
  for (size_t i = 0; i < n; ++i) {
    uint64_t** b = (uint64_t**)blocks[i];
    for (int c = 0; c < 3; ++c) {
      size_t child = i * 3 + 1 + c;
      if (child < n) {
        b[c] = blocks[child];
        ((uint64_t**)blocks[child])[3] = (uint64_t*)b;
      } else {
        b[c] = NULL;
      }
    }
  }
  /* Roots: the forest's top, and 90% of the rest through a global table; the
   * other 10% are cut from their parents: lost subtrees. */
  g_nroots = n / 10;
  void** roots = malloc(g_nroots * sizeof(void*));
  size_t lost = 0;
  for (size_t r = 0; r < g_nroots; ++r) roots[r] = blocks[r];
  g_roots = roots;
  const char* lost_file = getenv("SCAN_HEAP_LOST_FILE");
  FILE* lf = lost_file ? fopen(lost_file, "w") : NULL;
  for (size_t i = 1; i < n; i += 10) {
    if (lf && i >= g_nroots) fprintf(lf, "%p\n", blocks[i]);
    size_t parent = (i - 1) / 3;
    ((uint64_t**)blocks[parent])[(i - 1) % 3] = NULL;
    ((uint64_t**)blocks[i])[3] = NULL;
    if (i >= g_nroots) ++lost;
  }
  if (lf) fclose(lf);
  free(blocks);
  printf("scan_heap: %zu blocks, %zu bytes, %zu lost subtree heads\n", n, total, lost);
  fflush(stdout);
  void (*sync)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "scan_blocklog_sync");
  if (sync) sync();
  return 0;
}
