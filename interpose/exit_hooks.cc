// Hooks for _exit and _Exit: a program that leaves without exit handlers
// (every forked worker, Python's os._exit, test harnesses) still gets its
// final report, and the CI gate can still set its status. exit() itself needs
// no hook: it calls _exit inside libc, after our destructor has run.
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtrace {
// src/runtime.cc: the final report, then the status to leave with.
int RuntimeBeforeUnderscoreExit(int status) noexcept;
namespace watcher {
bool InWatcherProcess() noexcept;  // src/watcher/spawn.h
}  // namespace watcher
}  // namespace memtrace

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

[[noreturn]] void LeaveNow(int status) noexcept {
  for (;;) syscall(SYS_exit_group, status);
}

}  // namespace

MT_EXPORT [[noreturn]] void _exit(int status) { LeaveNow(memtrace::RuntimeBeforeUnderscoreExit(status)); }

MT_EXPORT [[noreturn]] void _Exit(int status) { LeaveNow(memtrace::RuntimeBeforeUnderscoreExit(status)); }

// The scan at exit reads the exiting thread's stack only above the point
// where the program handed over to the exit machinery: the frames below hold
// stale values of the program's old calls (memcheck sees them undefined and
// ignores them). That point is the call to exit() when the program calls it,
// or, when main returns (glibc then calls exit from inside libc), the frame
// main returned to: main is wrapped through __libc_start_main.
namespace memtrace {
void RuntimeExitFloor(uint64_t sp) noexcept;  // src/runtime.cc
}  // namespace memtrace

namespace {

using MainFn = int (*)(int, char**, char**);
MainFn g_real_main = nullptr;

__attribute__((noinline)) int MainWrapper(int argc, char** argv, char** envp) {
  int r = g_real_main(argc, argv, envp);
  // Past the saved frame pointer and the return address: the caller's frame.
  memtrace::RuntimeExitFloor(reinterpret_cast<uint64_t>(__builtin_frame_address(0)) + 16);
  asm volatile("" ::: "memory");  // not a tail call
  return r;
}

}  // namespace

MT_EXPORT int __libc_start_main(MainFn main, int argc, char** argv, void (*init)(void), void (*fini)(void),
                                void (*rtld_fini)(void), void* stack_end) {
  using StartFn = int (*)(MainFn, int, char**, void (*)(void), void (*)(void), void (*)(void), void*);
  auto real = reinterpret_cast<StartFn>(dlsym(RTLD_NEXT, "__libc_start_main"));
  g_real_main = main;
  return real(&MainWrapper, argc, argv, init, fini, rtld_fini, stack_end);
}

MT_EXPORT [[noreturn]] void exit(int status) {
  memtrace::RuntimeExitFloor(reinterpret_cast<uint64_t>(__builtin_frame_address(0)) + 16);
  using ExitFn = void (*)(int);
  static ExitFn real = nullptr;
  if (real == nullptr) real = reinterpret_cast<ExitFn>(dlsym(RTLD_NEXT, "exit"));
  real(status);
  __builtin_unreachable();
}

// __cxa_atexit (C++ static destructors, atexit): the program's, passed on --
// except in a watcher process, which leaves with _exit and never runs them.
// There the constructors of the libraries it loads (libmemtrace_watcher.so,
// libdw, abseil, ...) would take glibc's exit-handler lock, which a fork
// child's watcher can inherit held for ever: a child forked while another
// thread was inside dlclose (__cxa_finalize holds it) or a C++ library's
// constructors (e2e.dlstress: 3-6 of ~330 children a run lost their report
// so). The real one is found with dlvsym (our dlsym is a hook; this may run
// inside the loader's first constructors, before ours).
MT_EXPORT int __cxa_atexit(void (*func)(void*), void* arg, void* dso_handle) {
  if (memtrace::watcher::InWatcherProcess()) return 0;
  using AtexitFn = int (*)(void (*)(void*), void*, void*);
  static AtexitFn real = nullptr;  // threads may race to set it: the same value
  AtexitFn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
  if (f == nullptr) {
    f = reinterpret_cast<AtexitFn>(dlvsym(RTLD_NEXT, "__cxa_atexit", "GLIBC_2.2.5"));
    if (f == nullptr) return -1;
    __atomic_store_n(&real, f, __ATOMIC_RELEASE);
  }
  return f(func, arg, dso_handle);
}
