/* Probes for issue 13: a tracer that can hang, abort or corrupt a program
 * gets uninstalled. Each mode reproduces one way it used to fail.
 *
 *   safety forks N            fork N times; each child exits at once
 *   safety forks-alloc N      each child allocates, then exits (its own report)
 *   safety forks-threads N T  T threads allocate while main forks N children
 *   safety closefrom          closes every descriptor >= 3, then uses new ones
 *                             around report requests: its data must be intact
 *   safety pressure           allocates until malloc returns NULL (run it under
 *                             an address-space limit), frees, exits 0
 *   safety cancel T           T threads allocate; main cancels them (the test
 *                             stops the watcher first, so they wait for ring space)
 *   safety sigrestart         its SIGUSR2 handler has no SA_RESTART: a read()
 *                             must fail with EINTR, as untraced
 *   safety sigign-exec        ignores SIGUSR2, then execs a shell that sends
 *                             itself SIGUSR2: it must survive
 *   safety bursts B N         B bursts of N detached threads that allocate
 *   safety wait-all           reaps children with __WALL until ECHILD (strace -f
 *                             and gdb wait so): the watcher must not block it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  ssize_t w = write(1, buf, (size_t)n);
  (void)w;
}

static int forks(int n, int alloc) {
  for (int i = 0; i < n; ++i) {
    pid_t p = fork();
    if (p < 0) return 1;
    if (p == 0) {
      if (alloc) {
        void* volatile q = malloc(100 + i);
        free(q);
        q = malloc(10);
      }
      exit(0);
    }
    int st = 0;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
  }
  say("forked %d\n", n);
  return 0;
}

static atomic_int g_stop;

static void* allocator(void* arg) {
  (void)arg;
  unsigned i = 0;
  while (!atomic_load(&g_stop)) {
    void* volatile p = malloc(32 + (i++ & 255));
    free(p);
  }
  return NULL;
}

static int forks_threads(int n, int t) {
  pthread_t th[64];
  for (int i = 0; i < t && i < 64; ++i) pthread_create(&th[i], NULL, allocator, NULL);
  int rc = forks(n, 1);
  atomic_store(&g_stop, 1);
  for (int i = 0; i < t && i < 64; ++i) pthread_join(th[i], NULL);
  return rc;
}

static int count_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) n += fcntl(fd, F_GETFD) != -1;
  return n;
}

static int closefrom_mode(void) {
  say("fds %d\n", count_fds());
  closefrom(3);
  int p[2];
  if (pipe(p) != 0) return 1;
  static const char msg[] = "thirty-six bytes of the program data";
  if (write(p[1], msg, 36) != 36) return 1;
  raise(SIGUSR2);  /* a report request */
  usleep(200000);
  char back[64] = {0};
  if (read(p[0], back, sizeof back) != 36 || memcmp(back, msg, 36) != 0) {
    say("pipe data changed\n");
    return 1;
  }
  char path[] = "/tmp/memtrace_safety_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  if (write(fd, "ABCD", 4) != 4) return 1;
  raise(SIGUSR2);
  usleep(200000);
  close(fd);
  fd = open(path, O_RDONLY);
  char got[16] = {0};
  ssize_t n = read(fd, got, sizeof got);
  close(fd);
  unlink(path);
  if (n != 4 || memcmp(got, "ABCD", 4) != 0) {
    say("file data changed (%zd bytes)\n", n);
    return 1;
  }
  say("intact\n");
  return 0;
}

static int pressure(void) {
  void** blocks = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    void* p = malloc(1 << 20);
    if (p == NULL) break;
    memset(p, 1, 4096);
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      void** grown = realloc(blocks, cap * sizeof(void*));
      if (grown == NULL) {
        free(p);
        break;
      }
      blocks = grown;
    }
    blocks[n++] = p;
  }
  for (size_t i = 0; i < n; ++i) free(blocks[i]);
  free(blocks);
  say("got %zu MiB, then NULL; recovered\n", n);
  return n > 0 ? 0 : 1;
}

static void* cancellable(void* arg) {
  (void)arg;
  for (unsigned i = 0;; ++i) {
    void* volatile p = malloc(48 + (i & 127));
    free(p);
    if ((i & 1023) == 0) pthread_testcancel();
  }
  return NULL;
}

static int cancel_mode(int t) {
  pthread_t th[64];
  if (t > 64) t = 64;
  for (int i = 0; i < t; ++i) pthread_create(&th[i], NULL, cancellable, NULL);
  say("running %d\n", t);
  /* The test stops the watcher now; the rings fill; then it says go. */
  char c;
  if (read(0, &c, 1) != 1) return 1;
  for (int i = 0; i < t; ++i) pthread_cancel(th[i]);
  say("cancelled\n");
  if (read(0, &c, 1) != 1) return 1; /* the watcher runs again */
  for (int i = 0; i < t; ++i) {
    void* r = NULL;
    pthread_join(th[i], &r);
    if (r != PTHREAD_CANCELED) return 1;
  }
  say("joined %d\n", t);
  return 0;
}

static void on_usr2(int sig) { (void)sig; }

static int sigrestart(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL); /* no SA_RESTART */
  int p[2];
  if (pipe(p) != 0) return 1;
  say("ready %d\n", (int)getpid());
  char c;
  ssize_t r = read(p[0], &c, 1);
  say("%s\n", r < 0 && errno == EINTR ? "EINTR" : "restarted");
  return 0;
}

static int sigign_exec(void) {
  signal(SIGUSR2, SIG_IGN);
  unsetenv("LD_PRELOAD");
  execl("/bin/sh", "sh", "-c", "kill -USR2 $$; echo alive", (char*)NULL);
  return 127;
}

static atomic_int g_running;

static void* burst_thread(void* arg) {
  (void)arg;
  void* volatile p = malloc(64);
  free(p);
  atomic_fetch_sub(&g_running, 1);
  return NULL;
}

static int bursts(int b, int n) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (int i = 0; i < b; ++i) {
    for (int k = 0; k < n; ++k) {
      atomic_fetch_add(&g_running, 1);
      pthread_t t;
      if (pthread_create(&t, &attr, burst_thread, NULL) != 0) {
        atomic_fetch_sub(&g_running, 1);
        usleep(1000);
      }
    }
    while (atomic_load(&g_running) > 0) usleep(1000);
  }
  usleep(100000); /* the last exits reach the watcher */
  say("threads %d\n", b * n);
  return 0;
}

/* Reaps every child, clone children included, as strace -f and gdb do, until
 * the kernel says there are none left (ECHILD). Untraced that is after the
 * two children; the watcher must not keep it waiting. */
static int wait_all(void) {
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      free(malloc(100));
      _exit(7 + i);
    }
  }
  int reaped = 0, status = 0;
  for (;;) {
    pid_t r = waitpid(-1, &status, __WALL);
    if (r < 0) break;
    if (WIFEXITED(status) && WEXITSTATUS(status) >= 7) ++reaped;
  }
  say("waitpid __WALL: %d children, then %s\n", reaped, errno == ECHILD ? "ECHILD" : strerror(errno));
  pid_t pid = fork();
  if (pid == 0) _exit(9);
  siginfo_t info;
  int n = 0;
  for (;;) {
    memset(&info, 0, sizeof(info));
    if (waitid(P_ALL, 0, &info, WEXITED | __WALL) != 0) break;
    if (info.si_code == CLD_EXITED && info.si_status == 9) ++n;
  }
  say("waitid __WALL: %d child, then %s\n", n, errno == ECHILD ? "ECHILD" : strerror(errno));
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* m = argv[1];
  int a = argc > 2 ? atoi(argv[2]) : 0, b = argc > 3 ? atoi(argv[3]) : 0;
  if (strcmp(m, "forks") == 0) return forks(a, 0);
  if (strcmp(m, "forks-alloc") == 0) return forks(a, 1);
  if (strcmp(m, "forks-threads") == 0) return forks_threads(a, b);
  if (strcmp(m, "closefrom") == 0) return closefrom_mode();
  if (strcmp(m, "pressure") == 0) return pressure();
  if (strcmp(m, "cancel") == 0) return cancel_mode(a);
  if (strcmp(m, "sigrestart") == 0) return sigrestart();
  if (strcmp(m, "sigign-exec") == 0) return sigign_exec();
  if (strcmp(m, "bursts") == 0) return bursts(a, b);
  if (strcmp(m, "wait-all") == 0) return wait_all();
  return 2;
}
