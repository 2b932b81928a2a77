/* Linked against libmemtrace (DT_NEEDED, not LD_PRELOAD), so the library is
 * loaded even when the program runs setuid: test_security.py copies it
 * setuid-root into a private directory and runs it as another user with
 * hostile MEMTRACE_* settings. Says whether tracing is on and who it runs as,
 * and leaks a little (a gate would fire on it). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "memtrace/memtrace.h"

static void* volatile keep;

int main(void) {
  keep = malloc(4096);
  printf("active=%d euid=%d secure=%lu\n", memtrace_is_active(), (int)geteuid(), getauxval(AT_SECURE));
  return 0;
}
