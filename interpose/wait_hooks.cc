// Hooks for the wait family, for programs that wait for clone children too.
//
// The watcher is the program's child with no exit signal: wait(), waitpid()
// and the like never see it. A wait with __WALL or __WCLONE does (strace -f,
// gdb, some supervisors that reap everything), and such a wait with nothing
// else left to reap would block until the watcher exits -- which it does only
// after the program: a hang. Untraced, the same call fails at once with
// ECHILD. So a blocking wait that could select the watcher first looks
// without blocking; if nothing is ready and the watcher is the only child
// left, it fails with ECHILD as it would untraced. Anything else goes to the
// real function unchanged (a cancellation point, async-signal-safe, as the
// program expects). Nothing here allocates or takes a lock: programs call
// waitpid from SIGCHLD handlers.
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

namespace memtrace {
// src/runtime.cc: the pid of this process's watcher while it runs, else 0.
int RuntimeWatcherPid() noexcept;
}  // namespace memtrace

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using Wait4Fn = pid_t(pid_t, int*, int, struct rusage*);
using WaitidFn = int(idtype_t, id_t, siginfo_t*, int);
std::atomic<Wait4Fn*> g_wait4{nullptr};
std::atomic<WaitidFn*> g_waitid{nullptr};

// The real functions once resolved (at start-up: dlsym is not
// async-signal-safe), raw system calls before.
pid_t RealWait4(pid_t pid, int* status, int options, struct rusage* ru) {
  if (Wait4Fn* f = g_wait4.load(std::memory_order_acquire)) return f(pid, status, options, ru);
  return static_cast<pid_t>(syscall(SYS_wait4, pid, status, options, ru));
}

int RealWaitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  if (WaitidFn* f = g_waitid.load(std::memory_order_acquire)) return f(type, id, info, options);
  return static_cast<int>(syscall(SYS_waitid, type, id, info, options, nullptr));
}

int RawOpen(const char* path) { return static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC)); }

void RawClose(int fd) { syscall(SYS_close, fd); }

// True if /proc/self/task/TID/children names a process other than `watcher`.
// Read in chunks; a pid split across two chunks is carried over.
bool HasOtherChild(const char* tid, int watcher) {
  char path[64] = "/proc/self/task/";
  size_t n = strlen(path);
  for (const char* p = tid; *p != '\0' && n < sizeof(path) - 10; ++p) path[n++] = *p;
  memcpy(path + n, "/children", 10);
  int fd = RawOpen(path);
  if (fd < 0) return false;
  bool other = false;
  long pid = 0;
  bool digits = false;
  char buf[512];
  for (;;) {
    long got = syscall(SYS_read, fd, buf, sizeof(buf));
    if (got <= 0) break;
    for (long i = 0; i < got && !other; ++i) {
      if (buf[i] >= '0' && buf[i] <= '9') {
        pid = pid * 10 + (buf[i] - '0');
        digits = true;
      } else {
        if (digits && pid != watcher) other = true;
        pid = 0;
        digits = false;
      }
    }
    if (other) break;
  }
  if (digits && pid != watcher) other = true;
  RawClose(fd);
  return other;
}

// Whether the watcher is this process's only child (a child of any of its
// threads). Unknown (no /proc/*/children in this kernel): false, and the
// wait behaves as before.
bool OnlyTheWatcherIsLeft(int watcher) {
  int dir = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return false;
  bool only = true;
  bool seen_any = false;
  alignas(8) char buf[4096];
  for (;;) {
    long got = syscall(SYS_getdents64, dir, buf, sizeof(buf));
    if (got <= 0) break;
    for (long off = 0; off < got && only;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      char probe[64] = "/proc/self/task/";
      size_t n = strlen(probe);
      for (const char* p = d->d_name; *p != '\0' && n < sizeof(probe) - 10; ++p) probe[n++] = *p;
      memcpy(probe + n, "/children", 10);
      int fd = RawOpen(probe);
      if (fd < 0) continue;  // the thread just exited
      RawClose(fd);
      seen_any = true;
      if (HasOtherChild(d->d_name, watcher)) only = false;
    }
    if (!only) break;
  }
  RawClose(dir);
  return only && seen_any;
}

// The watcher, if this blocking wait could select it; else 0.
int WatcherInScope(bool any_child, int options) {
  if (!any_child || (options & WNOHANG) != 0 || (options & (__WALL | __WCLONE)) == 0) return 0;
  return memtrace::RuntimeWatcherPid();
}

pid_t Wait4(pid_t pid, int* status, int options, struct rusage* ru) {
  int watcher = WatcherInScope(pid == -1, options);
  if (watcher != 0) {
    pid_t r = RealWait4(pid, status, options | WNOHANG, ru);
    if (r != 0) return r;
    if (OnlyTheWatcherIsLeft(watcher)) {
      errno = ECHILD;
      return -1;
    }
  }
  return RealWait4(pid, status, options, ru);
}

}  // namespace

namespace memtrace {
void ResolveWaitHooks() noexcept {
  g_wait4.store(reinterpret_cast<Wait4Fn*>(dlsym(RTLD_NEXT, "wait4")), std::memory_order_release);
  g_waitid.store(reinterpret_cast<WaitidFn*>(dlsym(RTLD_NEXT, "waitid")), std::memory_order_release);
}
}  // namespace memtrace

MT_EXPORT pid_t waitpid(pid_t pid, int* status, int options) { return Wait4(pid, status, options, nullptr); }

MT_EXPORT pid_t wait4(pid_t pid, int* status, int options, struct rusage* ru) {
  return Wait4(pid, status, options, ru);
}

MT_EXPORT pid_t wait3(int* status, int options, struct rusage* ru) { return Wait4(-1, status, options, ru); }

MT_EXPORT int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  int watcher = WatcherInScope(type == P_ALL, options);
  if (watcher != 0 && info != nullptr) {
    info->si_pid = 0;
    int r = RealWaitid(type, id, info, options | WNOHANG);
    if (r != 0 || info->si_pid != 0) return r;
    if (OnlyTheWatcherIsLeft(watcher)) {
      errno = ECHILD;
      return -1;
    }
  }
  return RealWaitid(type, id, info, options);
}
