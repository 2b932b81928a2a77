// Hooks for sigaction() and signal(): calls for the report signal set the
// handler we chain to instead of replacing ours (src/trigger/signal_trigger.h);
// every other signal goes straight to libc.
#include <dlfcn.h>
#include <signal.h>

#include "src/trigger/signal_trigger.h"

namespace st = memtrace::signal_trigger;

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

MT_EXPORT int sigaction(int signo, const struct sigaction* act, struct sigaction* oact) noexcept {
  if (st::Intercept(signo, act, oact, __builtin_return_address(0))) return 0;
  return st::RealSigaction(signo, act, oact);
}

namespace {
// signal() returns the old handler whatever its kind.
sighandler_t OldHandler(const struct sigaction& old) {
  if ((old.sa_flags & SA_SIGINFO) == 0) return old.sa_handler;
  return reinterpret_cast<sighandler_t>(reinterpret_cast<void*>(old.sa_sigaction));
}
}  // namespace

MT_EXPORT sighandler_t signal(int signo, sighandler_t handler) noexcept {
  struct sigaction act{}, old{};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_RESTART;  // glibc's signal() has BSD semantics
  if (st::Intercept(signo, &act, &old, __builtin_return_address(0))) return OldHandler(old);
  if (st::RealSigaction(signo, &act, &old) != 0) return SIG_ERR;
  return OldHandler(old);
}
