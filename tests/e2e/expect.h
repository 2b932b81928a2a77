/* Ground truth for end-to-end fixtures: each fixture states what the report
 * must say, as lines "MEMTRACE_EXPECT {json}" on stdout, written with write(2)
 * so that no stdio buffer is allocated (it would be live at exit too). */
#ifndef MEMTRACE_TESTS_E2E_EXPECT_H_
#define MEMTRACE_TESTS_E2E_EXPECT_H_

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void expect_line(const char* fmt, ...) {
  char buf[1024];
  int n = snprintf(buf, sizeof(buf), "MEMTRACE_EXPECT ");
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  buf[n++] = '\n';
  ssize_t w = write(1, buf, (size_t)n);
  (void)w;
}

/* A site the report must list: frame 0 is `func` at file:line, with exactly
 * `bytes` live in `blocks` blocks. */
#define EXPECT_SITE(func, line, bytes, blocks)                                                      \
  expect_line("{\"kind\": \"site\", \"function\": \"%s\", \"file\": \"%s\", \"line\": %d, "        \
              "\"live_bytes\": %llu, \"live_blocks\": %llu}",                                        \
              func, __FILE__, line, (unsigned long long)(bytes), (unsigned long long)(blocks))

#endif
