/* The stress test of issue 13 (test_dlstress.py): libraries whose
 * constructors churn memory on several threads are loaded and unloaded over
 * and over while reports are requested in a loop and the process forks. It
 * must finish every time, traced as untraced.
 *
 *   dlstress ROUNDS FORKS OPS [DUMP_PATH]
 *
 * Each round opens dlstress_a, _b and _c (RTLD_NOW or RTLD_LAZY, some
 * RTLD_GLOBAL; their constructors start 2, 3 and 4 threads that churn OPS
 * operations each, dlstress_lib.c) and dlstress_keep (opened in round 0 and
 * never closed: later rounds open and close it again, a reference count
 * only), calls into each through dlsym on this thread, forks FORKS children
 * (in turn: one that exits at once, one that allocates and then _exits, one
 * that execs /bin/true) and reaps them, closes a, b and c (their destructors
 * join their threads), and prints "round N ok". Meanwhile, when traced, one
 * thread calls memtrace_mark and memtrace_dump(DUMP_PATH) in a loop and
 * another sends the report signal (SIGUSR2) to the process.
 *
 * stdout is the same traced and untraced (it never names a pid); what
 * depends on the run (children's pids, how many reports were asked for) goes
 * to stderr as "dlstress: ..." lines. The ground truth goes to stdout as
 * MEMTRACE_EXPECT lines.
 *
 * All along, a background thread opens and closes dlstress_bg and forks
 * from there (see background()). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "include/memtrace/memtrace.h"

/* Read by the libraries (this executable is linked with -rdynamic). */
__attribute__((visibility("default"))) int dlstress_ops = 1000;

__attribute__((visibility("default"), noinline)) void* dlstress_leak_block(size_t bytes) {
  return malloc(bytes);
}

__attribute__((visibility("default"), noinline)) void* dlstress_leak_block_bg(size_t bytes) {
  return malloc(bytes);
}

enum { kClosedLibs = 3 };
static const char* const kClosedPaths[kClosedLibs] = {DLSTRESS_LIB_A, DLSTRESS_LIB_B, DLSTRESS_LIB_C};
static const char* const kClosedNames[kClosedLibs] = {"a", "b", "c"};
static const int kClosedLeak[kClosedLibs] = {1111, 2222, 3333};  /* DLSTRESS_LEAK of each build */
static const int kKeepLeak = 4444;
static const int kBackgroundLeak = 5555;

static void say(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > (int)sizeof(buf) - 1) n = (int)sizeof(buf) - 1;
  ssize_t w = write(fd, buf, (size_t)n);
  (void)w;
}

static void pause_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* dlopen and dlclose, and the forks of children that call exit(), are
 * serialized by the program itself, as POSIX asks of a multithreaded
 * program whose fork child runs more than async-signal-safe code: glibc does
 * not reset the atexit list's lock in a fork child, and dlclose holds it
 * (__cxa_finalize), so exit() in a child forked during another thread's
 * dlclose would wait forever, traced or not. Children that allocate and
 * _exit, or exec, are forked at any moment, also while the other thread is
 * inside dlopen or dlclose. */
static pthread_mutex_t g_dl_mu = PTHREAD_MUTEX_INITIALIZER;

static void* locked_dlopen(const char* path, int mode) {
  pthread_mutex_lock(&g_dl_mu);
  void* h = dlopen(path, mode);
  pthread_mutex_unlock(&g_dl_mu);
  return h;
}

static int locked_dlclose(void* h) {
  pthread_mutex_lock(&g_dl_mu);
  int rc = dlclose(h);
  pthread_mutex_unlock(&g_dl_mu);
  return rc;
}

static pid_t fork_child(int kind) {
  if (kind != 0) return fork();
  pthread_mutex_lock(&g_dl_mu);
  pid_t pid = fork();
  if (pid != 0) pthread_mutex_unlock(&g_dl_mu);
  return pid;
}

static atomic_int g_stop;
static const char* g_dump_path;
static long g_dumps, g_dumps_failed, g_marks, g_signals;

static void* reporter(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    memtrace_mark("dlstress");
    ++g_marks;
    if (memtrace_dump(g_dump_path) == 0) {
      ++g_dumps;
    } else {
      ++g_dumps_failed;
    }
    pause_us(2000);
  }
  return NULL;
}

static void* signaller(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    kill(getpid(), SIGUSR2);
    ++g_signals;
    pause_us(3000);
  }
  return NULL;
}

static void child(int kind, int round);
static int reap(pid_t pid, int kind, int round);

/* Meanwhile, on its own thread: dlstress_bg opened (RTLD_LAZY or RTLD_NOW,
 * its constructor starts 2 churning threads), a child forked from this
 * thread while the main thread opens, forks and closes, then closed; over
 * and over until the rounds are done. How often varies: stderr says. */
static atomic_int g_stop_bg;
static long g_bg_loads, g_bg_children;
static int g_bg_failed;

static void* background(void* arg) {
  (void)arg;
  for (long i = 0; !atomic_load(&g_stop_bg); ++i) {
    void* h = locked_dlopen(DLSTRESS_LIB_BG, (i & 1) != 0 ? RTLD_NOW : RTLD_LAZY);
    if (h == NULL) {
      say(2, "dlstress: background dlopen failed: %s\n", dlerror());
      g_bg_failed = 1;
      return NULL;
    }
    ++g_bg_loads;
    int kind = (int)(i % 3);
    pid_t pid = fork_child(kind);
    if (pid < 0) {
      g_bg_failed = 1;
      return NULL;
    }
    if (pid == 0) child(kind, 1000 + (int)(i % 100));
    ++g_bg_children;
    if (reap(pid, kind, -1) != 0) g_bg_failed = 1;
    if (locked_dlclose(h) != 0) g_bg_failed = 1;
    if (g_bg_failed) return NULL;
  }
  return NULL;
}

/* A forked child. kind 0: exits at once (exit handlers, our exit path);
 * 1: allocates, then _exit; 2: execs /bin/true. */
__attribute__((noinline)) static void child(int kind, int round) {
  if (kind == 0) exit(0);
  if (kind == 1) {
    size_t bytes = 0;
    for (int i = 0; i < 8; ++i) {
      void* volatile p = malloc((size_t)(500 + 10 * i + round));
      bytes += 500 + 10 * i + (size_t)round;
      (void)p;
    }
    void* volatile m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    (void)m;
    say(2, "dlstress: child %d allocated %zu bytes\n", (int)getpid(), bytes);
    _exit(0);
  }
  execl("/bin/true", "true", (char*)NULL);
  _exit(127);
}

static int reap(pid_t pid, int kind, int round) {
  int st = 0;
  pid_t w;
  while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
  }
  if (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    say(2, "dlstress: round %d: child of kind %d ended with status %#x\n", round, kind, st);
    return 1;
  }
  return 0;
}

static int round_of(int round, int rounds, int forks, void** keep) {
  /* The resident library: loaded (constructor, threads) once, in round 1
   * (round 0 with a single round), so that it may land where a library of
   * round 0 was; later rounds only move its reference count. */
  if (round >= (rounds > 1 ? 1 : 0)) {
    void* k = locked_dlopen(DLSTRESS_LIB_KEEP, RTLD_NOW | RTLD_GLOBAL);
    if (k == NULL) {
      say(1, "round %d: dlopen keep failed: %s\n", round, dlerror());
      return 1;
    }
    if (*keep == NULL) {
      *keep = k;
    } else if (locked_dlclose(k) != 0) {
      return 1;
    }
  }
  void* handles[kClosedLibs];
  for (int i = 0; i < kClosedLibs; ++i) {
    int mode = ((round + i) & 1) != 0 ? RTLD_NOW : RTLD_LAZY;
    if ((round + i) % 3 == 0) mode |= RTLD_GLOBAL;
    handles[i] = locked_dlopen(kClosedPaths[i], mode);
    if (handles[i] == NULL) {
      say(1, "round %d: dlopen %s failed: %s\n", round, kClosedNames[i], dlerror());
      return 1;
    }
  }
  for (int i = 0; i < kClosedLibs; ++i) {
    char name[64];
    snprintf(name, sizeof name, "dlstress_work_%s", kClosedNames[i]);
    int (*work)(int) = (int (*)(int))dlsym(handles[i], name);
    if (work == NULL || work(50) != 50) {
      say(1, "round %d: %s failed\n", round, name);
      return 1;
    }
  }
  for (int f = 0; f < forks; ++f) {
    int kind = (round * forks + f) % 3;
    pid_t pid = fork_child(kind);
    if (pid < 0) {
      say(1, "round %d: fork failed\n", round);
      return 1;
    }
    if (pid == 0) child(kind, round);
    if (reap(pid, kind, round) != 0) {
      say(1, "round %d: a child of kind %d failed\n", round, kind);
      return 1;
    }
  }
  for (int i = 0; i < kClosedLibs; ++i) {
    if (locked_dlclose(handles[i]) != 0) {
      say(1, "round %d: dlclose %s failed\n", round, kClosedNames[i]);
      return 1;
    }
  }
  say(1, "round %d ok\n", round);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    say(2, "usage: dlstress ROUNDS FORKS OPS [DUMP_PATH]\n");
    return 2;
  }
  int rounds = atoi(argv[1]);
  int forks = atoi(argv[2]);
  dlstress_ops = atoi(argv[3]);
  g_dump_path = argc > 4 ? argv[4] : NULL;
  int traced = memtrace_is_active != NULL && memtrace_is_active();

  pthread_t rep, sig;
  if (traced) {
    pthread_create(&rep, NULL, reporter, NULL);
    pthread_create(&sig, NULL, signaller, NULL);
  }
  pthread_t bg;
  pthread_create(&bg, NULL, background, NULL);
  void* keep = NULL;
  int rc = 0;
  for (int r = 0; r < rounds && rc == 0; ++r) rc = round_of(r, rounds, forks, &keep);
  atomic_store(&g_stop_bg, 1);
  pthread_join(bg, NULL);
  say(2, "dlstress: background: %ld loads, %ld children\n", g_bg_loads, g_bg_children);
  if (g_bg_failed) {
    say(1, "background thread failed\n");
    rc = 1;
  }
  if (keep != NULL) {
    void (*join)(void) = (void (*)(void))dlsym(keep, "dlstress_join_keep");
    if (join == NULL) return 1;
    join();
  }
  if (traced) {
    atomic_store(&g_stop, 1);
    pthread_join(rep, NULL);
    pthread_join(sig, NULL);
    say(2, "dlstress: %ld dumps (%ld failed), %ld marks, %ld signals\n", g_dumps, g_dumps_failed, g_marks, g_signals);
  }
  if (rc != 0) return rc;
  /* Each load of a, b and c leaked its block through dlstress_leak_block;
   * dlstress_keep (loaded once) leaked in its own function. */
  long closed_bytes = 0;
  for (int i = 0; i < kClosedLibs; ++i) closed_bytes += (long)kClosedLeak[i] * rounds;
  expect_line("{\"kind\": \"leak\", \"function\": \"dlstress_leak_block\", \"live_bytes\": %ld, \"live_blocks\": %d}",
              closed_bytes, kClosedLibs * rounds);
  expect_line("{\"kind\": \"leak\", \"function\": \"dlstress_leak_keep\", \"live_bytes\": %d, \"live_blocks\": 1}",
              rounds > 0 ? kKeepLeak : 0);
  /* The background library's leaks: one per load, a number that varies
   * from run to run (stderr has it; stdout stays the same). */
  say(2, "dlstress: expect dlstress_leak_block_bg %ld bytes in %ld blocks\n", kBackgroundLeak * g_bg_loads, g_bg_loads);
  say(1, "done: %d rounds\n", rounds);
  return 0;
}
