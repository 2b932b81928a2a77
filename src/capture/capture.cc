// The slow paths of capture: thread registration and exit, stack capture.
#include "src/capture/capture.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/capture/predating.h"
#include "src/capture/stack_depot.h"
#include "src/capture/stack_memo.h"
#include "src/capture/unwinder.h"
#include "src/config/config.h"

namespace memtrace {

__thread ThreadState t_state MT_TLS_IE = {nullptr, 0, 0, 0, 0, nullptr, 0, 0, 0, 0, 0, 0, 0, 0};

namespace {
pthread_key_t g_exit_key;
bool g_exit_key_ok = false;
std::atomic<uint32_t> g_next_serial{1};

}  // namespace

bool CaptureInitThreadKey() noexcept {
  g_exit_key_ok = pthread_key_create(&g_exit_key, &CaptureThreadExit) == 0;
  return g_exit_key_ok;
}

namespace {

ThreadSlot* RegisterSlot() noexcept {
  ThreadState& t = t_state;
  if (t.untraced != 0) return nullptr;
  t.walks = 0;
  if (void (*hook)() = g_register_hook.load(std::memory_order_acquire)) hook();
  ThreadSlot* s = g_slots.Acquire();
  if (s == nullptr) {
    t.untraced = 1;
    g_slots.counters().slot_exhausted.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  t.slot = s;
  bool first = t.serial == 0;
  if (first) {
    t.serial = t.birth != nullptr ? t.birth->serial : g_next_serial.fetch_add(1, std::memory_order_relaxed);
  }
  s->busy_since.exchange(ClockNow(), std::memory_order_seq_cst);
  uint64_t tid = static_cast<uint64_t>(syscall(SYS_gettid));
  // A thread our pthread_create hook did not start may have been running
  // before tracing began (predating.h).
  bool predates = t.birth == nullptr && g_predating.IsPredatingThread(tid);
  CapturePushAux(s, EventKind::kThreadStart, ClockNow(), tid, t.serial | (predates ? kThreadPredates : 0),
                 static_cast<uint64_t>(pthread_self()));
  if (first) {
    // Its kernel name (inherited from its creator until renamed), while the
    // thread surely exists. A raw prctl: our own prctl hook would record it again.
    char name[16] = {};
    syscall(SYS_prctl, PR_GET_NAME, name, 0, 0, 0);
    uint64_t lo = 0, hi = 0;
    memcpy(&lo, name, 7);
    memcpy(&hi, name + 7, 8);
    CapturePushAux(s, EventKind::kThreadName, ClockNow(), static_cast<uint64_t>(pthread_self()), lo, hi);
  }
  // The key's destructor retires the slot when the thread ends. glibc may
  // calloc here; the guard is set, so that allocation is not traced.
  if (g_exit_key_ok) pthread_setspecific(g_exit_key, s);
  return s;
}

}  // namespace

ThreadSlot* RegisterThread() noexcept {
  int saved_errno = errno;  // mmap, prctl and pthread_setspecific may set it
  ThreadSlot* s = RegisterSlot();
  errno = saved_errno;
  return s;
}

void CaptureThreadExit(void* arg) noexcept {
  ThreadState& t = t_state;
  ThreadSlot* s = t.slot;
  if (s == nullptr || s != arg) return;
  uint32_t saved_guard = t.guard;
  t.guard = 1;
  s->busy_since.exchange(ClockNow(), std::memory_order_seq_cst);
  CapturePushAux(s, EventKind::kThreadExit, ClockNow(), 0, 0, 0);
  // Drop our pointer first: after kSlotRetiring the flusher may hand the slot
  // to another thread. Later destructors that allocate register a new slot
  // (and re-arm the key, which glibc then runs again).
  t.slot = nullptr;
  s->busy_since.store(kIdle, std::memory_order_release);
  g_slots.Retired();
  s->state.store(kSlotRetiring, std::memory_order_release);
  t.guard = saved_guard;
}

void CaptureTracerAlloc(const void* p) noexcept {
  ThreadSlot* s = t_state.slot;
  // Only inside a hook (the slot's busy stamp covers this event); the tracer's
  // own threads never free a block through a traced path.
  if (p == nullptr || s == nullptr || t_state.internal != 0) return;
  CapturePush(s, EventKind::kTracerAlloc, ClockNow(), p, 0, nullptr);
}

void CaptureForgetSlotAfterFork() noexcept {
  // The slot was the parent's (the region it lived in was replaced); the
  // thread registers again at its next traced call. Its serial is kept.
  t_state.slot = nullptr;
  t_state.untraced = 0;
}

// Unit tests link no start-up: tracing is on when a test says so.
__attribute__((weak)) bool TracingStartAt(StartPoint, uintptr_t) noexcept {
  return g_tracing.load(std::memory_order_relaxed);
}

ThreadSlot* CaptureEnterSlow(uintptr_t caller) noexcept {
  uint32_t state = g_start_state.load(std::memory_order_acquire);
  if (state == kStartOff) return nullptr;
  if (state == kStartRunning && !g_tracing.load(std::memory_order_relaxed)) return nullptr;  // ended
  if (!TracingStartAt(StartPoint::kHook, caller)) return nullptr;
  ThreadState& t = t_state;
  if (t.guard != 0) return nullptr;
  return CaptureEnterTraced(t);
}

void CaptureThreadEvent(EventKind kind, uint64_t addr, uint64_t size, uint64_t aux) noexcept {
  ThreadSlot* s = CaptureEnter();
  if (s == nullptr) return;
  CapturePushAux(s, kind, ClockNow(), addr, size, aux);
  CaptureLeave(s);
}

uint32_t CaptureThreadSerial() noexcept { return t_state.serial; }

uint32_t CaptureNewThreadSerial() noexcept { return g_next_serial.fetch_add(1, std::memory_order_relaxed); }

void CaptureMarkInternalThread() noexcept {
  t_state.guard = 1;
  t_state.internal = 1;
}

const StackRecord* CaptureStackWalk(uintptr_t fp0, uintptr_t hint) noexcept {
  int saved_errno = errno;  // the fallback unwinders and the depot may set it
  ThreadSlot* s = t_state.slot;
  // A thread gets its memo after a few walks: a burst of short threads (a
  // thread per request) then touches no memo page at all.
  constexpr uint32_t kWalksBeforeMemo = 8;
  if (s != nullptr && s->memo == nullptr && ++t_state.walks >= kWalksBeforeMemo) g_slots.AttachMemo(s);
  StackMemo* memo = s != nullptr ? s->memo : nullptr;
  uintptr_t frames[kMaxFramesLimit];
  int depth = g_unwinder.Capture(fp0, frames, memo, hint);
  const StackRecord* record = g_depot.Intern(frames, static_cast<uint32_t>(depth));
  if (memo != nullptr) memo->Commit(record);
  errno = saved_errno;
  return record;
}

const StackRecord* CaptureStackHere() noexcept {
  uintptr_t fp0 = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  ThreadSlot* s = t_state.slot;
  const StackRecord* record = s != nullptr ? CaptureStack(s, fp0, 0) : CaptureStackWalk(fp0, 0);
  asm volatile("" ::: "memory");  // no tail call: the walk starts in this frame
  return record;
}

}  // namespace memtrace
