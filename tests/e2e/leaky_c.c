/* C leaks of distinct, known sizes from distinct functions, one per
 * allocation function of the malloc family; plus allocations that are freed
 * again and must not show. Each leaking call sits on the line recorded next
 * to it (the EXPECT_SITE line is the call's line). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>

#include "expect.h"

static void* volatile sink[64];
static int nsink;
static void keep(void* p) { sink[nsink++ % 64] = p; }

__attribute__((noinline)) void leak_malloc(void) {
  for (int i = 0; i < 3; ++i) {
    keep(malloc(100)); if (i == 0) EXPECT_SITE("leak_malloc", __LINE__, 300, 3);
  }
}

__attribute__((noinline)) void leak_calloc(void) {
  keep(calloc(7, 11)); EXPECT_SITE("leak_calloc", __LINE__, 77, 1);
}

__attribute__((noinline)) void leak_realloc(void) {
  void* p = malloc(50);
  p = realloc(p, 5000); EXPECT_SITE("leak_realloc", __LINE__, 5000, 1);
  keep(p);
}

__attribute__((noinline)) void leak_aligned(void) {
  void* p = 0;
  if (posix_memalign(&p, 64, 1000) == 0) keep(p); EXPECT_SITE("leak_aligned", __LINE__, 1000, 1);
  keep(aligned_alloc(256, 512)); EXPECT_SITE("leak_aligned", __LINE__, 512, 1);
  keep(memalign(32, 333)); EXPECT_SITE("leak_aligned", __LINE__, 333, 1);
}

__attribute__((noinline)) void leak_pages(void) {
  keep(valloc(3000)); EXPECT_SITE("leak_pages", __LINE__, 3000, 1);
  keep(pvalloc(10)); EXPECT_SITE("leak_pages", __LINE__, 10, 1);
  keep(reallocarray(NULL, 9, 13)); EXPECT_SITE("leak_pages", __LINE__, 117, 1);
}

__attribute__((noinline)) void churn_and_free(void) {
  for (int i = 0; i < 1000; ++i) {
    void* p = malloc((size_t)(i % 200) + 1);
    p = realloc(p, (size_t)(i % 300) + 1);
    free(p);
  }
  free(NULL);
  void* z = malloc(10);
  z = realloc(z, 0); /* glibc: frees and returns NULL */
  free(z);
}
