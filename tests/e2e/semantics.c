/* libc semantics under the preload: every edge case of the malloc family,
 * printed. The runner demands byte-identical output with and without the
 * preload (so the hooks return exactly what glibc returns, errno included),
 * and exact numbers in the report. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"

static void say(const char* what, int ok, int err) { printf("%-44s %s errno=%d\n", what, ok ? "ok" : "FAIL", err); }

int main(void) {
  char line[128];
  void* p;
  int rc;
  /* volatile: keep the compiler from rejecting sizes it can see are absurd */
  volatile size_t huge = SIZE_MAX - 4096, half = SIZE_MAX / 2;

  errno = 0;
  p = realloc(NULL, 40);
  say("realloc(NULL, 40) allocates", p != NULL && malloc_usable_size(p) >= 40, errno);
  free(p);

  p = malloc(10);
  errno = 0;
  void* q = realloc(p, 0);
  say("realloc(p, 0) frees and returns NULL", q == NULL, errno);

  errno = 0;
  p = malloc(huge);
  say("malloc(huge) fails with ENOMEM", p == NULL && errno == ENOMEM, errno);

  errno = 0;
  p = calloc(half, 3);
  say("calloc overflow fails with ENOMEM", p == NULL && errno == ENOMEM, errno);

  errno = 0;
  p = reallocarray(NULL, half, 3);
  say("reallocarray overflow fails with ENOMEM", p == NULL && errno == ENOMEM, errno);

  void* untouched = (void*)0x1234;
  rc = posix_memalign(&untouched, 3, 100);
  say("posix_memalign(align 3) is EINVAL", rc == EINVAL && untouched == (void*)0x1234, rc);
  rc = posix_memalign(&untouched, 0, 100);
  say("posix_memalign(align 0) is EINVAL", rc == EINVAL && untouched == (void*)0x1234, rc);
  rc = posix_memalign(&untouched, 4096, 100);
  say("posix_memalign(4096) aligns", rc == 0 && ((uintptr_t)untouched & 4095) == 0, rc);
  free(untouched);

  errno = 0;
  p = aligned_alloc(64, 100);
  say("aligned_alloc(64) aligns", p != NULL && ((uintptr_t)p & 63) == 0, errno);
  free(p);
  p = memalign(512, 10);
  say("memalign(512) aligns", p != NULL && ((uintptr_t)p & 511) == 0, errno);
  free(p);
  p = valloc(1);
  say("valloc is page aligned", p != NULL && ((uintptr_t)p & 4095) == 0, errno);
  free(p);
  p = pvalloc(1);
  say("pvalloc rounds to a page", p != NULL && malloc_usable_size(p) >= 4096, errno);
  free(p);

  errno = 1234;
  p = malloc(77);
  say("malloc leaves errno alone on success", errno == 1234, errno);
  free(p);
  say("free leaves errno alone", errno == 1234, errno);
  errno = 0;

  free(NULL);
  say("free(NULL) is a no-op", 1, errno);
  say("malloc_usable_size(NULL) is 0", malloc_usable_size(NULL) == 0, errno);

  p = calloc(100, 10);
  int zero = 1;
  for (int i = 0; i < 1000; ++i) zero &= ((unsigned char*)p)[i] == 0;
  say("calloc zero-fills", zero, errno);
  free(p);

  /* realloc keeps contents, growing and shrinking. */
  char* s = malloc(16);
  strcpy(s, "hello, tracer");
  s = realloc(s, 100000);
  s = realloc(s, 8);
  say("realloc keeps contents", memcmp(s, "hello, t", 8) == 0, errno);
  snprintf(line, sizeof(line), "usable(8-byte block) >= 8: %d", malloc_usable_size(s) >= 8);
  say(line, 1, errno);

  /* What stays live: s (8 bytes) and one 4096-byte stdout buffer that stdio
   * allocates on the first printf. */
  fflush(stdout);
  EXPECT_SITE("main", 0, 8, 1);
  return 0;
}
