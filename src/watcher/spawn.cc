// Starting the watcher (see spawn.h).
#include "src/watcher/spawn.h"

#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "src/capture/capture.h"
#include "src/capture/region.h"
#include "src/capture/thread_slots.h"
#include "src/log.h"

namespace memtrace::watcher {
namespace {

// The watcher must never run the program's signal handlers (it is a copy of
// the program), nor die of a signal meant for the program's process group:
// default actions everywhere, and everything blocked. Raw system calls: the
// program's sigaction may be hooked.
void QuietSignals() {
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  } dfl{};
  dfl.handler = reinterpret_cast<void*>(SIG_DFL);
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  }
  uint64_t all = ~uint64_t{0};
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, nullptr, sizeof(uint64_t));
}

// Holds none of the program's descriptors but stderr (where reports may go)
// and its pidfd: no pipe of the program stays open because of us.
void DropDescriptors(int keep) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    close(null);
  }
  for (int fd = 3; fd < 65536; ++fd) {
    if (fd == keep) continue;
    int hi = keep > fd ? keep - 1 : 65535;
    if (syscall(SYS_close_range, static_cast<unsigned>(fd), static_cast<unsigned>(hi), 0u) == 0) {
      fd = hi;
    } else {
      close(fd);
    }
  }
}

// A debugger that started the program (gdb, lldb) has written breakpoints
// (int3) into private copies of the program's code pages, at least at the
// dynamic linker's probe points, which our dlopen below passes through. The
// watcher holds copies of those pages and is no one's tracee: the first
// breakpoint it reached would kill it. So where the program is being traced,
// the watcher maps its executable segments again from their files -- the
// very files, device and inode checked -- which drops the debugger's copies.
bool ProgramIsTraced() {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(getppid()));
  FILE* f = fopen(path, "re");
  if (f == nullptr) return false;
  char line[256];
  int tracer = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "TracerPid: %d", &tracer) == 1) break;
  }
  fclose(f);
  return tracer != 0;
}

void MapCodeAgain() {
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) return;
  char line[PATH_MAX + 256];
  while (fgets(line, sizeof(line), f) != nullptr) {
    unsigned long start = 0, end = 0, offset = 0, inode = 0;
    unsigned major_id = 0, minor_id = 0;
    char perms[8] = {};
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &start, &end, perms, &offset, &major_id, &minor_id, &inode,
               &path_at) < 7 || path_at == 0) {
      continue;
    }
    char* file = line + path_at;
    file[strcspn(file, "\n")] = '\0';
    if (perms[2] != 'x' || perms[3] != 'p' || inode == 0 || file[0] != '/') continue;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st{};
    if (fstat(fd, &st) == 0 && st.st_ino == inode && major(st.st_dev) == major_id && minor(st.st_dev) == minor_id) {
      int prot = PROT_EXEC | (perms[0] == 'r' ? PROT_READ : 0);
      syscall(SYS_mmap, start, end - start, prot, MAP_PRIVATE | MAP_FIXED, fd, offset);
    }
    close(fd);
  }
  fclose(f);
}

bool g_in_watcher = false;

[[noreturn]] void ChildMain(WatcherHandoff* handoff, const char* object) {
  g_in_watcher = true;
  QuietSignals();
  // This process is a copy of the program: nothing it does is traced.
  CaptureMarkInternalThread();
  g_tracing.store(false, std::memory_order_relaxed);
  prctl(PR_SET_NAME, "memtrace-watch", 0, 0, 0);
  DropDescriptors(handoff->pidfd);
  setpgid(0, 0);
  if (ProgramIsTraced()) MapCodeAgain();
  void* lib = dlopen(object, RTLD_NOW | RTLD_LOCAL);
  using MainFn = int (*)(const WatcherHandoff*);
  auto main = lib != nullptr ? reinterpret_cast<MainFn>(dlsym(lib, "memtrace_watcher_main")) : nullptr;
  if (main == nullptr) {
    MT_LOG_ERROR("cannot load %s (%s); no reports", object, dlerror());
  } else {
    main(handoff);
  }
  g_region.header()->watcher_state.store(4, std::memory_order_release);
  _exit(1);
}

int FindSelf(dl_phdr_info*, size_t, void*) { return 0; }

}  // namespace

std::string FindWatcherObject() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&FindSelf), &info) == 0 || info.dli_fname == nullptr) return {};
  // Absolute: LD_PRELOAD may name it relative to a directory the program
  // leaves before a fork child starts its watcher.
  char resolved[PATH_MAX];
  std::string self(realpath(info.dli_fname, resolved) != nullptr ? resolved : info.dli_fname);
  size_t slash = self.rfind('/');
  std::string object = (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/libmemtrace_watcher.so";
  if (access(object.c_str(), R_OK) != 0) {
    MT_LOG_ERROR("%s is missing (it belongs next to libmemtrace.so); tracing is off", object.c_str());
    return {};
  }
  return object;
}

// The child is a copy of the program made without glibc's fork(): it runs
// only the thread that spawned it, with every lock as the program's other
// threads left it -- and the calling thread's own. It then allocates and
// calls dlopen, so Spawn runs only at a safe point (src/startup.cc): where
// the calling thread holds no lock of glibc's or libstdc++'s (a hook called
// by code outside libmemtrace's dependency closure, the pthread_create and
// dlopen pre-hooks, the constructor, the exit), and before the program's
// first pthread_create, so no other traced thread can hold the malloc or
// loader locks (a fork child has one thread).
int Spawn(const WatcherHandoff& base, const std::string& object) noexcept {
  // Static: the child reads it after the fork (its copy), the parent never
  // again; one spawn at a time (init, or a fork child's first call).
  static WatcherHandoff handoff;
  static char path[4096];
  handoff = base;
  size_t n = object.size() < sizeof(path) - 1 ? object.size() : sizeof(path) - 1;
  memcpy(path, object.data(), n);
  path[n] = '\0';
  RegionHeader* h = g_region.header();
  h->watcher_state.store(1, std::memory_order_release);
  g_slots.SetConsumerActive(true);
  // The watcher inherits a pidfd of the program made before the fork, so even
  // a program that dies at once is still the process it watches.
  handoff.pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  // A fork with no exit signal. Raw clone: glibc's fork() would run the
  // program's atfork handlers.
  // CLONE_UNTRACED: a debugger or strace -f on the program does not take the
  // watcher for one of the program's threads (as it would any clone without
  // SIGCHLD) nor show its system calls.
  long pid = syscall(SYS_clone, static_cast<unsigned long>(CLONE_UNTRACED), nullptr, nullptr, nullptr, 0ul);
  if (pid == 0) ChildMain(&handoff, path);
  if (handoff.pidfd >= 0) syscall(SYS_close, handoff.pidfd);  // raw: may run inside a hook (close is a cancellation point)
  if (pid < 0) {
    h->watcher_state.store(3, std::memory_order_release);
    g_slots.SetConsumerActive(false);
    MT_LOG_ERROR("cannot start the watcher process (error %d); tracing is off", errno);
    return -1;
  }
  h->watcher_pid.store(static_cast<int32_t>(pid), std::memory_order_release);
  return static_cast<int>(pid);
}

namespace {

// A hexadecimal or decimal number at *p (as /proc/PID/syscall writes them),
// advancing past it and one space.
uint64_t NextNumber(const char** p) noexcept {
  const char* s = *p;
  int base = 10;
  if (s[0] == '0' && s[1] == 'x') {
    base = 16;
    s += 2;
  }
  uint64_t v = 0;
  for (;; ++s) {
    int d = *s >= '0' && *s <= '9' ? *s - '0' : base == 16 && *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
    if (d < 0) break;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  if (*s == ' ') ++s;
  *p = s;
  return v;
}

}  // namespace

bool InWatcherProcess() noexcept { return g_in_watcher; }

bool StuckStarting(int pid) noexcept {
  char path[64];
  int n = snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(path)) return false;
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;  // gone, or not ours to read: the caller's other checks apply
  char buf[256];
  long got = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
  syscall(SYS_close, fd);
  if (got <= 0) return false;
  buf[got] = '\0';
  // "NR arg1 arg2 ... sp pc" while blocked in a system call; "running" or
  // "-1 ..." otherwise.
  const char* p = buf;
  if (*p < '0' || *p > '9') return false;
  uint64_t nr = NextNumber(&p);
  if (nr != SYS_futex) return false;
  NextNumber(&p);  // the futex word
  uint64_t op = NextNumber(&p);
  NextNumber(&p);  // the expected value
  uint64_t timeout = NextNumber(&p);
  constexpr uint64_t kPrivate = 128;  // FUTEX_PRIVATE_FLAG
  uint64_t cmd = op & 127;
  return (op & kPrivate) != 0 && (cmd == 0 /* FUTEX_WAIT */ || cmd == 9 /* FUTEX_WAIT_BITSET */) && timeout == 0;
}

}  // namespace memtrace::watcher
