/* A library the program opens with RTLD_DEEPBIND: it binds to libc's malloc
 * and free directly, around the tracer (test_deepbind.py). It frees a block
 * the program allocated and leaks one of its own. */
#include <stdlib.h>
#include <string.h>

#include "expect.h"

static void* volatile g_keep;

__attribute__((noinline)) int deepbind_work(void* from_program) {
  free(from_program);
  g_keep = malloc(3000);
  int line = __LINE__ - 1;
  memset(g_keep, 1, 3000);
  return line;
}
