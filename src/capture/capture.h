// What a hook calls: the capture fast path. A traced call is bracketed by
// CaptureEnter/CaptureLeave:
//
//   ThreadSlot* s = CaptureEnter();          // null: call through, record nothing
//   const StackRecord* st = MT_CAPTURE_STACK(s);  // before the real call
//   p = real_malloc(n);
//   CaptureAlloc(s, p, n, st);               // timestamp after the real call
//   CaptureLeave(s);
//
// Between Enter and Leave the slot's busy stamp holds a lower bound for the
// timestamps this thread may still push, which is what lets the flusher merge
// rings in order without waiting for anyone (flush/merger.h). No lock, no
// syscall, no allocation on this path once a thread has its slot.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "src/capture/busy_fence.h"
#include "src/capture/clock.h"
#include "src/capture/compiler.h"
#include "src/capture/event.h"
#include "src/capture/stack_memo.h"
#include "src/capture/thread_slots.h"
#include "src/capture/thread_state.h"

namespace memtrace {

// Set once tracing runs (the watcher exists); cleared before the final
// report. While it is false every hook takes CaptureEnterSlow, which starts
// tracing at the first hooked call (src/startup.cc).
inline std::atomic<bool> g_tracing{false};

// Where tracing is in its start-up (src/startup.cc explains the rule).
enum StartState : uint32_t {
  kStartNone = 0,      // nothing yet: the next hooked call starts tracing
  kStartStarting = 1,  // a thread is setting up the capture path
  kStartCapturing = 2, // events are captured into the rings; the watcher waits for a safe point
  kStartWatcher = 3,   // a thread is starting the watcher
  kStartRunning = 4,   // the watcher runs: g_tracing says whether tracing is on
  kStartOff = 5,       // disabled, failed, or ended
};
inline std::atomic<uint32_t> g_start_state{kStartNone};

// Where a start is attempted: a hook (`caller`: the return address into the
// code that called it), or a point that is safe by construction (the library
// constructor, the dlopen and pthread_create pre-hooks, the program's exit).
enum class StartPoint { kHook, kSafe, kExit };
// Moves tracing's start-up forward from this point (src/startup.cc). True if
// this call may be captured (capture is set up; the watcher may still wait).
// Defined weak here (false unless g_tracing): unit tests have no start-up.
bool TracingStartAt(StartPoint point, uintptr_t caller) noexcept;

// Called at each thread's registration, before it takes a slot (the runtime
// takes the report signal back there if a raw system call replaced it).
inline std::atomic<void (*)()> g_register_hook{nullptr};

// Slow path of CaptureEnter: the thread's first event. Returns the slot with
// its busy stamp set, or null if the thread cannot be traced.
ThreadSlot* RegisterThread() noexcept;

// CaptureEnter once tracing was found on (or starting): the guard, the slot.
MT_ALWAYS_INLINE ThreadSlot* CaptureEnterTraced(ThreadState& t) noexcept {
  t.guard = 1;
  ThreadSlot* s = t.slot;
  if (MT_UNLIKELY(s == nullptr)) {
    s = RegisterThread();
    if (s == nullptr) t.guard = 0;
    return s;
  }
  // The stamp is the thread's last event's timestamp: a lower bound for every
  // timestamp it takes from here on (the clock is monotonic per thread), so
  // entering costs no clock reading. It is visible before any timestamp we
  // take next (busy_fence.h): a flusher that still saw this slot idle read
  // its clock before ours (see flush/merger.h).
  BusyFenceStore(s->busy_since, t.last_ts);
  return s;
}

// Slow path of CaptureEnter while g_tracing is off: starts tracing if this is
// the first hooked call (and the watcher, if `caller` makes this a safe
// point), then enters like CaptureEnter. Null: call through, record nothing.
ThreadSlot* CaptureEnterSlow(uintptr_t caller) noexcept;

MT_ALWAYS_INLINE ThreadSlot* CaptureEnter() noexcept {
  ThreadState& t = t_state;
  if (MT_UNLIKELY(t.guard != 0)) return nullptr;
  // Inlined into the hook: its return address is the caller of the hook.
  if (MT_UNLIKELY(!g_tracing.load(std::memory_order_relaxed))) {
    return CaptureEnterSlow(reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
  }
  return CaptureEnterTraced(t);
}

MT_ALWAYS_INLINE void CaptureLeave(ThreadSlot* s) noexcept {
  s->busy_since.store(kIdle, std::memory_order_release);
  t_state.guard = 0;
}

// The interned stack above the frame at `fp0`, a live frame with a frame
// pointer (see CfiUnwinder::Walk); `hint` is that frame's return address, or
// 0 (it spreads the thread's memo, see stack_memo.h). A stack the thread's
// memo still knows costs a few compares here, inline in the hook; anything
// else walks (CaptureStackWalk). Neither touches errno.
const StackRecord* CaptureStackWalk(uintptr_t fp0, uintptr_t hint) noexcept;

MT_ALWAYS_INLINE const StackRecord* CaptureStack(ThreadSlot* s, uintptr_t fp0, uintptr_t hint) noexcept {
  if (const StackMemo* memo = s->memo; MT_LIKELY(memo != nullptr)) {
    if (const StackRecord* known = memo->Find(fp0, hint)) return known;
  }
  return CaptureStackWalk(fp0, hint);
}

// In a hook, with its slot: the stack of the hook's caller. The hook's own
// frame is where the walk starts (__builtin_frame_address gives it a frame
// pointer), so no tracer frame is walked or checked.
#define MT_CAPTURE_STACK(s)                                                            \
  ::memtrace::CaptureStack((s), reinterpret_cast<uintptr_t>(__builtin_frame_address(0)), \
                           reinterpret_cast<uintptr_t>(__builtin_return_address(0)))

// From anywhere inside a hook (the guard is set): the stack, with the
// tracer's frames removed.
const StackRecord* CaptureStackHere() noexcept;

// The one place an event is built: `st` for allocations and mappings,
// `aux` (CapturePushAux) for thread events. `ts` follows the rule in clock.h:
// taken after the real call for what appears, before it for what goes away.
MT_ALWAYS_INLINE void CapturePush(ThreadSlot* s, EventKind kind, uint64_t ts, const void* addr, uint64_t size,
                                  const StackRecord* st) noexcept {
  Event e;
  e.ts = ts;
  e.addr = reinterpret_cast<uintptr_t>(addr);
  e.size = size;
  e.kind = static_cast<uint64_t>(kind);
  e.stack = st;
  g_slots.Push(s, e);
  t_state.last_ts = ts;
}

MT_ALWAYS_INLINE void CapturePushAux(ThreadSlot* s, EventKind kind, uint64_t ts, uint64_t addr, uint64_t size,
                                           uint64_t aux) noexcept {
  Event e;
  e.ts = ts;
  e.addr = addr;
  e.size = size;
  e.kind = static_cast<uint64_t>(kind);
  e.aux = aux;
  g_slots.Push(s, e);
  t_state.last_ts = ts;
}

MT_ALWAYS_INLINE void CaptureAlloc(ThreadSlot* s, const void* p, size_t n, const StackRecord* st) noexcept {
  CapturePush(s, EventKind::kAlloc, ClockNow(), p, n, st);
}

// `ts` must have been taken before the real free (or realloc) ran.
MT_ALWAYS_INLINE void CaptureFree(ThreadSlot* s, const void* p, uint64_t ts) noexcept {
  CapturePush(s, EventKind::kFree, ts, p, 0, nullptr);
}

// A block allocated by tracer code running inside a hook on this thread
// (the guard was set). Recorded so that its free, which glibc may issue
// later through our hook (dynamic TLS blocks are freed when a thread's stack
// is reused), is recognised as the tracer's and kept out of the data.
void CaptureTracerAlloc(const void* p) noexcept;

// A thread-lifetime event from program code (join, detach, name): registers
// the thread if needed; does nothing on an untraced thread.
void CaptureThreadEvent(EventKind kind, uint64_t addr, uint64_t size = 0, uint64_t aux = 0) noexcept;
// The calling thread's serial (0 before its first event).
uint32_t CaptureThreadSerial() noexcept;
// A serial for a thread about to be created.
uint32_t CaptureNewThreadSerial() noexcept;

// pthread key destructor: the thread's last event, and its slot retires.
void CaptureThreadExit(void* slot) noexcept;
// Creates the key whose destructor is CaptureThreadExit.
bool CaptureInitThreadKey() noexcept;
// In a fork child, once the region was replaced: the calling thread's slot
// was the parent's; it registers again at its next traced call.
void CaptureForgetSlotAfterFork() noexcept;
// Marks the calling thread as the tracer's own (never traced).
void CaptureMarkInternalThread() noexcept;

}  // namespace memtrace
