// When tracing starts: at the first hooked call, whichever comes first.
//
// Libraries the program links are initialised before libmemtrace (ld.so runs
// constructors dependencies first), so a library constructor may allocate,
// map memory or start threads before our own constructor runs (OpenBLAS
// starts its threads and maps its buffers there; a C++ static initializer
// in the program's own library allocates there). So every hook asks here
// while tracing is not on (CaptureEnterSlow), and tracing starts in two
// phases:
//
//  1. Capture (RuntimeInitCapture), at the very first hooked call, from
//     inside whatever hook it is, even one the dynamic loader calls while it
//     holds its lock: only what is safe anywhere -- the configuration, the
//     shared region and the rings (raw system calls), libgcc's unwinder (linked,
//     not loaded), what predates tracing (predating.h). From then on every
//     event goes into the rings.
//
//  2. The watcher (RuntimeStartWatcher): the watcher object is found, the
//     CFI unwinder and glibc's backtrace() loaded, the fork handler
//     installed, and the watcher forked -- a raw fork that inherits
//     every lock exactly as the forking thread holds it. So it happens only
//     at a safe point, where the calling thread holds no lock of glibc's,
//     libstdc++'s or of the libraries the watcher runs on:
//       - a hook called directly by code outside libmemtrace's dependency
//         closure (the program, its own libraries): CallerModules decides by
//         the hook's return address;
//       - the pthread_create pre-hook (before the real call, so the watcher is
//         forked while no other traced thread exists), the dlopen pre-hook
//         (before the loader takes its lock), the library constructor (at
//         start-up no loader lock is held), the program's exit.
//     Hooks called from inside glibc or libstdc++ (ld.so's own allocations
//     under its lock, atexit's list under its lock, dlerror's message, locale
//     set-up inside a pthread_once) are captured but do not fork. Measured
//     on this machine's glibc 2.36 (docs/design.md, "Start-up"): the first
//     hooked call of every program tried is libstdc++'s malloc of its
//     exception emergency pool, in its own initialisation (deferred); the
//     watcher then starts at our constructor, or earlier at a safe point of
//     a library initialised before us (its pthread_create, its malloc).
//
// The limit of the rule: glibc code that holds a lock while it calls back
// into program code (a constructor run by an internal dlopen, a
// dl_iterate_phdr callback, a fopencookie stream) looks like program code.
// None of them is where a program's first allocation usually happens.
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/real.h"
#include "src/capture/caller_modules.h"
#include "src/capture/capture.h"
#include "src/capture/start_info.h"
#include "src/capture/thread_slots.h"
#include "src/capture/thread_state.h"
#include "src/log.h"

namespace memtrace {

// src/runtime.cc
bool RuntimeInitCapture() noexcept;
bool RuntimeStartWatcher() noexcept;
bool RuntimeForkedWhileCapturing() noexcept;

namespace {

const char* PointName(StartPoint point) {
  switch (point) {
    case StartPoint::kHook:
      return "a hook";
    case StartPoint::kSafe:
      return "a safe point";
    case StartPoint::kExit:
      return "the exit";
  }
  return "?";
}

bool SafePoint(StartPoint point, uintptr_t caller) {
  switch (point) {
    case StartPoint::kSafe:
      return true;
    case StartPoint::kExit:
      return g_slots.high_water() > 0;  // some thread was traced: it deserves its report
    case StartPoint::kHook:
      return !g_tracer_modules.Ours(caller);
  }
  return false;
}

}  // namespace

bool TracingStartAt(StartPoint point, uintptr_t caller) noexcept {
  uint32_t state = g_start_state.load(std::memory_order_acquire);
  if (state == kStartRunning) return g_tracing.load(std::memory_order_relaxed);
  if (state == kStartOff || state == kStartStarting || t_state.guard != 0) return false;
  int saved_errno = errno;
  if (state == kStartNone) {
    // Another thread that gets here meanwhile (only threads that predate
    // tracing can) goes through untraced rather than wait for this one.
    if (!real::Ready() || !g_start_state.compare_exchange_strong(state, kStartStarting, std::memory_order_acq_rel)) {
      errno = saved_errno;
      return false;
    }
    bool ok;
    {
      TracerCodeScope scope;
      ok = RuntimeInitCapture() && (g_tracer_modules.Init(reinterpret_cast<uintptr_t>(&TracingStartAt)), true);
    }
    state = ok ? kStartCapturing : kStartOff;
    g_start_state.store(state, std::memory_order_release);
    if (ok) MT_LOG_DEBUG("capture started at %s (caller %#lx)", PointName(point), caller);
  }
  if (state == kStartCapturing) {
    {
      TracerCodeScope scope;
      RuntimeForkedWhileCapturing();  // a fork before the watcher started: this is the child
    }
    uint32_t expected = kStartCapturing;
    if (SafePoint(point, caller) &&
        g_start_state.compare_exchange_strong(expected, kStartWatcher, std::memory_order_acq_rel)) {
      bool ok;
      {
        TracerCodeScope scope;
        ok = RuntimeStartWatcher();
      }
      g_start_state.store(ok ? kStartRunning : kStartOff, std::memory_order_release);
      MT_LOG_DEBUG("watcher started at %s (caller %#lx)", PointName(point), caller);
    } else if (point == StartPoint::kHook) {
      MT_LOG_DEBUG("watcher deferred: hook called from %#lx", caller);
    }
    state = g_start_state.load(std::memory_order_acquire);
  }
  errno = saved_errno;
  // While the watcher waits (or is being started), hooks capture into the rings.
  if (state == kStartCapturing || state == kStartWatcher) return point == StartPoint::kHook;
  return state == kStartRunning && g_tracing.load(std::memory_order_relaxed);
}

}  // namespace memtrace
