/* Related processes and their report names (test_security.py): leaks
 * argv[1] bytes, optionally lives argv[2] milliseconds (so interval reports
 * rotate meanwhile), and with argv[3] == "fork" first forks a child that does
 * the same with argv[1] * 2 bytes. Prints its pid and what it leaked. */
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

static void* volatile keep;

static void live(long bytes, long ms, const char* role) {
  keep = malloc((size_t)bytes);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  expect_line("{\"kind\": \"process\", \"role\": \"%s\", \"pid\": %d, \"leaked\": %ld}", role, (int)getpid(), bytes);
}

int main(int argc, char** argv) {
  long bytes = argc > 1 ? atol(argv[1]) : 1000;
  long ms = argc > 2 ? atol(argv[2]) : 0;
  if (argc > 3 && argv[3][0] == 'f') {
    pid_t pid = fork();
    if (pid == 0) {
      live(bytes * 2, ms, "child");
      exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
  live(bytes, ms, "main");
  return 0;
}
