/* The launcher of bench/real_programs.py: runs a command and writes its
 * ru_maxrss (KiB) and wait status to a file.
 *
 *   bench_spawn_rss OUTFILE [NAME=VALUE ...] -- COMMAND [ARGS ...]
 *
 * Why not from Python: a child started from the benchmark's Python process
 * reports that process's RSS in its own ru_maxrss (the kernel keeps the
 * high-water mark of the address space an exec leaves: /bin/true started by
 * a 200 MiB python3 reports 218 MiB). This launcher is ~1 MiB. The
 * NAME=VALUE pairs are set in the child only (LD_PRELOAD: the launcher
 * itself is never traced). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int sep = 2;
  while (sep < argc && strcmp(argv[sep], "--") != 0) ++sep;
  if (argc < 4 || sep + 1 >= argc) {
    fprintf(stderr, "usage: bench_spawn_rss OUTFILE [NAME=VALUE ...] -- COMMAND [ARGS ...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    for (int i = 2; i < sep; ++i) putenv(argv[i]);
    execvp(argv[sep + 1], argv + sep + 1);
    perror(argv[sep + 1]);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) return 2;
  FILE* f = fopen(argv[1], "w");
  if (f == NULL) return 2;
  fprintf(f, "%ld %d\n", ru.ru_maxrss, status);
  fclose(f);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
