/* A parent that checks what it sees of a traced child: runs the command,
 * reaps with wait() until no child is left, and prints each child it reaped
 * with its status, and how many SIGCHLDs arrived. `reaper --subreaper CMD`
 * first makes itself a child subreaper (prctl(PR_SET_CHILD_SUBREAPER)). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t g_sigchld = 0;
static void on_chld(int sig) { (void)sig; g_sigchld++; }

int main(int argc, char** argv) {
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "--subreaper") == 0) {
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    first = 2;
  }
  if (first >= argc) return 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_chld;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  pid_t child = fork();
  if (child == 0) {
    execvp(argv[first], argv + first);
    _exit(127);
  }
  int reaped = 0;
  for (;;) {
    int st = 0;
    pid_t r = wait(&st);
    if (r < 0) {
      if (errno == EINTR) continue;
      break; /* ECHILD: nothing left */
    }
    ++reaped;
    printf("reaped %s %d %s %d\n", r == child ? "child" : "other", (int)r,
           WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
  printf("sigchld %d reaped %d\n", (int)g_sigchld, reaped);
  return 0;
}
