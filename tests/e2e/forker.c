/* fork: the child gets a fresh, working tracer and its own report (%p),
 * containing what it allocated itself after the fork: blocks it inherited
 * are the parent's (they are in the parent's report; the child's frees of
 * them are counted as untracked frees). */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

static void* volatile keep[4];

__attribute__((noinline)) void before_fork(void) { keep[0] = malloc(1111); }
__attribute__((noinline)) void in_child(void) { keep[1] = malloc(2222); }
__attribute__((noinline)) void in_parent(void) { keep[2] = malloc(3333); }

int main(void) {
  before_fork();
  pid_t pid = fork();
  if (pid == 0) {
    in_child();
    for (int i = 0; i < 1000; ++i) { /* the child's tracer works */
      keep[3] = malloc(64);
      free(keep[3]);
    }
    expect_line("{\"kind\": \"process\", \"role\": \"child\", \"pid\": %d, \"live_bytes\": %d}", (int)getpid(), 2222);
    exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  in_parent();
  expect_line("{\"kind\": \"process\", \"role\": \"parent\", \"pid\": %d, \"live_bytes\": %d}", (int)getpid(), 1111 + 3333);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
