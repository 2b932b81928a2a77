// Hooks for _exit and _Exit: a program that leaves without exit handlers
// (every forked worker, Python's os._exit, test harnesses) still gets its
// final report, and the CI gate can still set its status. exit() itself needs
// no hook: it calls _exit inside libc, after our destructor has run.
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtrace {
// src/runtime.cc: the final report, then the status to leave with.
int RuntimeBeforeUnderscoreExit(int status) noexcept;
}  // namespace memtrace

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

[[noreturn]] void LeaveNow(int status) noexcept {
  for (;;) syscall(SYS_exit_group, status);
}

}  // namespace

MT_EXPORT [[noreturn]] void _exit(int status) { LeaveNow(memtrace::RuntimeBeforeUnderscoreExit(status)); }

MT_EXPORT [[noreturn]] void _Exit(int status) { LeaveNow(memtrace::RuntimeBeforeUnderscoreExit(status)); }
