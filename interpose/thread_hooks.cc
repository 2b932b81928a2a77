// Hooks for thread lifetimes: pthread_create (the start routine is wrapped so
// the new thread registers at once, with its parent, creation stack, start
// routine and stack size), joins, detaches and names. Each records an event
// through src/capture and then behaves exactly as the real call.
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>

#include <atomic>

#include "interpose/deepbind.h"
#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/stack_bounds.h"

using memtrace::CaptureThreadEvent;
using memtrace::EventKind;
using memtrace::ThreadBirth;
namespace real = memtrace::real;

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using memtrace::real::Next;

using CreateFn = int(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
using JoinFn = int(pthread_t, void**);
using DetachFn = int(pthread_t);
using SetNameFn = int(pthread_t, const char*);
using PrctlFn = int(int, unsigned long, unsigned long, unsigned long, unsigned long);
std::atomic<CreateFn*> g_create{nullptr};
std::atomic<JoinFn*> g_join{nullptr};
std::atomic<int (*)(pthread_t, void**)> g_tryjoin{nullptr};
std::atomic<int (*)(pthread_t, void**, const struct timespec*)> g_timedjoin{nullptr};
std::atomic<int (*)(pthread_t, void**, clockid_t, const struct timespec*)> g_clockjoin{nullptr};
std::atomic<DetachFn*> g_detach{nullptr};
std::atomic<SetNameFn*> g_setname{nullptr};
std::atomic<PrctlFn*> g_prctl{nullptr};

}  // namespace

namespace memtrace {
// Called by the constructor (re-entry guard set): the real functions are
// looked up now, not at the program's first call, where dlsym would free the
// program's pending dlerror() state on a traced path.
void ResolveThreadHooks() noexcept {
  Next(g_create, "pthread_create");
  Next(g_join, "pthread_join");
  Next(g_tryjoin, "pthread_tryjoin_np");
  Next(g_timedjoin, "pthread_timedjoin_np");
  Next(g_clockjoin, "pthread_clockjoin_np");
  Next(g_detach, "pthread_detach");
  Next(g_setname, "pthread_setname_np");
  Next(g_prctl, "prctl");
}
}  // namespace memtrace

namespace {

void* Trampoline(void* p) {
  ThreadBirth birth = *static_cast<ThreadBirth*>(p);
  real::fn.free(p);
  // Stack bounds before any of the program's code (stack_bounds.h).
  memtrace::RecordThreadStack(birth.stack_addr, birth.stack_size, reinterpret_cast<uintptr_t>(__builtin_frame_address(0)));
  // Register now, so the thread's origin is known even if it never allocates.
  memtrace::t_state.birth = &birth;
  if (memtrace::ThreadSlot* s = memtrace::CaptureEnter()) memtrace::CaptureLeave(s);
  memtrace::t_state.birth = nullptr;
  return birth.routine(birth.arg);
}

void RecordName(pthread_t thread, const char* name) {
  char buf[16] = {};
  strncpy(buf, name, 15);
  uint64_t lo = 0, hi = 0;
  memcpy(&lo, buf, 7);
  memcpy(&hi, buf + 7, 8);
  CaptureThreadEvent(EventKind::kThreadName, static_cast<uint64_t>(thread), lo, hi);
}

}  // namespace

MT_EXPORT int pthread_create(pthread_t* out, const pthread_attr_t* attr, void* (*routine)(void*),
                                   void* arg) noexcept {
  CreateFn* create = Next(g_create, "pthread_create");
  // A safe point for the watcher's start (src/startup.cc): program code
  // called us, and no thread of ours exists until the real call below.
  if (!real::Ready() || memtrace::t_state.guard != 0 ||
      !memtrace::TracingStartAt(memtrace::StartPoint::kSafe, reinterpret_cast<uintptr_t>(__builtin_return_address(0)))) {
    return create(out, attr, routine, arg);
  }
  memtrace::DeepbindCatchUp();  // a library opened with RTLD_DEEPBIND may start threads (deepbind.h)
  memtrace::ThreadSlot* s = memtrace::CaptureEnter();
  if (s == nullptr) return create(out, attr, routine, arg);
  const memtrace::StackRecord* creator = memtrace::CaptureStackHere();
  uint32_t parent = memtrace::CaptureThreadSerial();
  auto* birth = static_cast<ThreadBirth*>(real::fn.malloc(sizeof(ThreadBirth)));  // ours: never traced
  memtrace::CaptureLeave(s);
  if (birth == nullptr) return create(out, attr, routine, arg);
  birth->routine = routine;
  birth->arg = arg;
  birth->serial = memtrace::CaptureNewThreadSerial();
  size_t stack_size = 0;
  int detach = PTHREAD_CREATE_JOINABLE;
  pthread_attr_t defaults;
  void* stack_addr = nullptr;
  if (attr != nullptr) {
    pthread_attr_getstacksize(attr, &stack_size);
    pthread_attr_getdetachstate(attr, &detach);
    size_t user_size = 0;
    // glibc answers stackaddr - size when no stack was set: 0 once added back.
    if (pthread_attr_getstack(attr, &stack_addr, &user_size) != 0 ||
        reinterpret_cast<uintptr_t>(stack_addr) + user_size == 0) {
      stack_addr = nullptr;
    } else {
      stack_size = user_size;
    }
  } else if (pthread_getattr_default_np(&defaults) == 0) {
    pthread_attr_getstacksize(&defaults, &stack_size);
    pthread_attr_destroy(&defaults);
  }
  birth->stack_addr = reinterpret_cast<uintptr_t>(stack_addr);
  birth->stack_size = stack_size;
  uint32_t serial = birth->serial;
  // The real call's own allocations (the thread's TLS) are traced as usual.
  int rc = create(out, attr, &Trampoline, birth);
  if (rc != 0) {
    real::fn.free(birth);
    return rc;
  }
  // Recorded before this thread can join or detach the new one.
  if ((s = memtrace::CaptureEnter()) != nullptr) {
    uint64_t ts = memtrace::ClockNow();
    memtrace::CapturePushAux(s, EventKind::kThreadCreated, ts, static_cast<uint64_t>(*out), serial, parent);
    memtrace::CapturePush(s, EventKind::kThreadOrigin, ts, reinterpret_cast<const void*>(routine), serial, creator);
    memtrace::CapturePushAux(s, EventKind::kThreadAttr, ts, stack_size,
                             (static_cast<uint64_t>(serial) << 1) | (detach == PTHREAD_CREATE_DETACHED ? 1 : 0), 0);
    memtrace::CaptureLeave(s);
  }
  return rc;
}

MT_EXPORT int pthread_join(pthread_t thread, void** ret) {
  int rc = Next(g_join, "pthread_join")(thread, ret);
  if (rc == 0) CaptureThreadEvent(EventKind::kThreadJoin, static_cast<uint64_t>(thread));
  return rc;
}

MT_EXPORT int pthread_tryjoin_np(pthread_t thread, void** ret) noexcept {
  int rc = Next(g_tryjoin, "pthread_tryjoin_np")(thread, ret);
  if (rc == 0) CaptureThreadEvent(EventKind::kThreadJoin, static_cast<uint64_t>(thread));
  return rc;
}

MT_EXPORT int pthread_timedjoin_np(pthread_t thread, void** ret, const struct timespec* abstime) {
  int rc = Next(g_timedjoin, "pthread_timedjoin_np")(thread, ret, abstime);
  if (rc == 0) CaptureThreadEvent(EventKind::kThreadJoin, static_cast<uint64_t>(thread));
  return rc;
}

MT_EXPORT int pthread_clockjoin_np(pthread_t thread, void** ret, clockid_t clock,
                                         const struct timespec* abstime) {
  int rc = Next(g_clockjoin, "pthread_clockjoin_np")(thread, ret, clock, abstime);
  if (rc == 0) CaptureThreadEvent(EventKind::kThreadJoin, static_cast<uint64_t>(thread));
  return rc;
}

MT_EXPORT int pthread_detach(pthread_t thread) noexcept {
  int rc = Next(g_detach, "pthread_detach")(thread);
  if (rc == 0) CaptureThreadEvent(EventKind::kThreadDetach, static_cast<uint64_t>(thread));
  return rc;
}

MT_EXPORT int pthread_setname_np(pthread_t thread, const char* name) noexcept {
  int rc = Next(g_setname, "pthread_setname_np")(thread, name);
  if (rc == 0) RecordName(thread, name);
  return rc;
}

MT_EXPORT int prctl(int option, ...) noexcept {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long), a4 = va_arg(ap, unsigned long),
                a5 = va_arg(ap, unsigned long);
  va_end(ap);
  int rc = Next(g_prctl, "prctl")(option, a2, a3, a4, a5);
  if (rc == 0 && option == PR_SET_NAME && a2 != 0) RecordName(pthread_self(), reinterpret_cast<const char*>(a2));
  return rc;
}
