// Hooks for the C++ allocation functions: every operator new and delete,
// plain, array, sized, aligned and nothrow (the 20 the C++17 library
// defines). Nothing here formats, aggregates or does I/O.
//
// Why hook them at all: a program linked with jemalloc, tcmalloc or mimalloc
// binds operator new to that allocator's own definition, which never calls
// malloc through its PLT, so the malloc hooks never see `new`. The real
// functions are the next definitions after ours (RTLD_NEXT): the program's
// allocator does the work, with its exact semantics -- operator new throws
// std::bad_alloc or runs the new-handler exactly when it would, nothrow
// forms return null, sized and aligned deletes pass their size and
// alignment on.
//
// Two paths:
//  - The real function is the C++ runtime's (libstdc++, libc++): it calls
//    malloc/free through its PLT, i.e. our hooks, which record it already.
//    The hook is a tail jump (plus, before tracing runs, a start-up point:
//    the caller of new is the program). Same cost and stacks as before; the
//    report drops the runtime's leading operator new frame.
//  - Any other allocator: the hook records the allocation itself. Its
//    stack is taken first (frame 0: the code that called new), then the
//    real function runs *outside* the capture bracket, with kPausedInNew
//    set, so that a malloc the real new makes is not a second allocation
//    while a new-handler it runs is the program's code, traced as usual
//    (its frees, its own news). The block is recorded once the real
//    function returned (stamped after it, clock.h). A delete is recorded
//    like free: stamped before the real call, inside the bracket.
#include <cstddef>
#include <new>

#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/sampler.h"

namespace real = memtrace::real;
using memtrace::ThreadSlot;

#define MT_NEW_EXPORT __attribute__((visibility("default")))

namespace {

enum NewFn { kNew, kNewArr, kNewNt, kNewArrNt, kNewAl, kNewArrAl, kNewAlNt, kNewArrAlNt };
enum DeleteFn {
  kDel, kDelArr, kDelSz, kDelArrSz, kDelNt, kDelArrNt, kDelAl, kDelArrAl, kDelSzAl, kDelArrSzAl, kDelAlNt, kDelArrAlNt
};

template <typename F>
MT_ALWAYS_INLINE F* NewPtr(NewFn i) noexcept {
  return reinterpret_cast<F*>(real::fn.op_new[i]);
}
template <typename F>
MT_ALWAYS_INLINE F* DeletePtr(DeleteFn i) noexcept {
  return reinterpret_cast<F*>(real::fn.op_delete[i]);
}

// 0 until the real functions are resolved (real.cc publishes it last).
MT_ALWAYS_INLINE bool ViaMalloc(int bit) noexcept {
  return (__atomic_load_n(&real::fn.cxx_via_malloc, __ATOMIC_ACQUIRE) >> bit) & 1;
}

// Before tracing runs, a call to new is a start-up point whose caller is
// the program's code (src/startup.cc), even when it goes on into the
// runtime's new (whose malloc is called from libstdc++).
MT_NOINLINE void StartPoint(uintptr_t caller) noexcept {
  if (memtrace::t_state.guard == 0) memtrace::TracingStartAt(memtrace::StartPoint::kHook, caller);
}

// Undoes kPausedInNew however the real call ends (it may throw).
struct InNew {
  InNew() { memtrace::t_state.paused += memtrace::kPausedInNew; }
  ~InNew() { memtrace::t_state.paused -= memtrace::kPausedInNew; }
};

// The recording path (see the top of the file). `call` runs the real new.
template <typename Call>
MT_ALWAYS_INLINE void* TracedNew(size_t size, Call call) {
  memtrace::ThreadState& t = memtrace::t_state;
  if (t.guard != 0 || t.paused != 0) return call();
  bool sampling = MT_UNLIKELY(memtrace::g_sample_period != 0);
  if (sampling && !memtrace::SampleAllocation(size)) return call();
  ThreadSlot* s = memtrace::CaptureEnter();
  if (s == nullptr) return call();
  const memtrace::StackRecord* st = MT_CAPTURE_STACK(s);
  memtrace::CaptureLeave(s);
  void* p;
  {
    InNew in_new;
    p = call();
  }
  if (p != nullptr && (!sampling || memtrace::g_sampled.Insert(reinterpret_cast<uintptr_t>(p)))) {
    if ((s = memtrace::CaptureEnter()) != nullptr) {
      memtrace::CaptureAlloc(s, p, size, st);
      memtrace::CaptureLeave(s);
    }
  }
  return p;
}

template <typename Call>
MT_ALWAYS_INLINE void TracedDelete(void* p, Call call) noexcept {
  if (p == nullptr) return call();
  if (MT_UNLIKELY(real::ArenaOwns(p))) return;  // a bootstrap block (real.h)
  if (MT_UNLIKELY(memtrace::g_sample_period != 0) && memtrace::t_state.guard == 0 &&
      !memtrace::g_sampled.Erase(reinterpret_cast<uintptr_t>(p))) {
    return call();
  }
  ThreadSlot* s = memtrace::CaptureEnter();
  if (s == nullptr) return call();
  memtrace::CaptureFree(s, p, memtrace::ClockNow());  // before the real delete: see clock.h
  call();  // with the guard set: a free it makes is not another event
  memtrace::CaptureLeave(s);
}

// Before the real functions are known (dlsym allocates): the bootstrap
// arena, as for malloc. Never expected for new; kept correct anyway.
void* BootstrapNew(size_t n, size_t align, bool nothrow) {
  void* p = real::ArenaAlloc(n == 0 ? 1 : n, align < 16 ? 16 : align);
  if (p == nullptr && !nothrow) throw std::bad_alloc();
  return p;
}

}  // namespace

// Each hook is split like malloc's (malloc_hooks.cc): the exported function
// is thin -- a few loads, then a tail jump either to the C++ runtime's
// function or to the full path (NewFull / DeleteFull), whose frame then sits
// where the caller's call left it, so MT_CAPTURE_STACK starts from the
// caller of new. No register is saved on the fast path.
MT_ALWAYS_INLINE bool NewFast(int index) noexcept {
  return ViaMalloc(index) && memtrace::g_tracing.load(std::memory_order_relaxed);
}

template <typename F, typename... Args>
MT_NOINLINE void* NewFull(NewFn index, size_t size, size_t align, bool nothrow, Args... args) {
  if (MT_UNLIKELY(!real::Ready())) return BootstrapNew(size, align, nothrow);
  if (ViaMalloc(index)) {
    // Tracing is not on yet: a start-up point whose caller is the program's
    // code (src/startup.cc), even though the malloc it leads to is called
    // from libstdc++.
    StartPoint(reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
    return NewPtr<F>(index)(args...);
  }
  return TracedNew(size, [&] { return NewPtr<F>(index)(args...); });
}

template <typename F, typename... Args>
MT_NOINLINE void DeleteFull(DeleteFn index, void* p, Args... args) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return;
  if (ViaMalloc(8 + index)) return DeletePtr<F>(index)(p, args...);
  TracedDelete(p, [&] { DeletePtr<F>(index)(p, args...); });
}

#define MT_NEW_BODY(index, size, align, nothrow, F, ...)                                  \
  if (MT_LIKELY(NewFast(index))) return NewPtr<F>(index)(__VA_ARGS__);                    \
  return NewFull<F>(index, size, align, nothrow, __VA_ARGS__)

#define MT_DELETE_BODY(index, F, ...)                                                                 \
  if (MT_LIKELY(ViaMalloc(8 + index))) return DeletePtr<F>(index)(__VA_ARGS__);                     \
  return DeleteFull<F>(index, __VA_ARGS__)

using NewF = void*(size_t);
using NewNtF = void*(size_t, const std::nothrow_t&) noexcept;
using NewAlF = void*(size_t, std::align_val_t);
using NewAlNtF = void*(size_t, std::align_val_t, const std::nothrow_t&) noexcept;
using DelF = void(void*) noexcept;
using DelSzF = void(void*, size_t) noexcept;
using DelNtF = void(void*, const std::nothrow_t&) noexcept;
using DelAlF = void(void*, std::align_val_t) noexcept;
using DelSzAlF = void(void*, size_t, std::align_val_t) noexcept;
using DelAlNtF = void(void*, std::align_val_t, const std::nothrow_t&) noexcept;

MT_NEW_EXPORT void* operator new(size_t n) { MT_NEW_BODY(kNew, n, 16, false, NewF, n); }
MT_NEW_EXPORT void* operator new[](size_t n) { MT_NEW_BODY(kNewArr, n, 16, false, NewF, n); }
MT_NEW_EXPORT void* operator new(size_t n, const std::nothrow_t& nt) noexcept {
  MT_NEW_BODY(kNewNt, n, 16, true, NewNtF, n, nt);
}
MT_NEW_EXPORT void* operator new[](size_t n, const std::nothrow_t& nt) noexcept {
  MT_NEW_BODY(kNewArrNt, n, 16, true, NewNtF, n, nt);
}
MT_NEW_EXPORT void* operator new(size_t n, std::align_val_t al) {
  MT_NEW_BODY(kNewAl, n, static_cast<size_t>(al), false, NewAlF, n, al);
}
MT_NEW_EXPORT void* operator new[](size_t n, std::align_val_t al) {
  MT_NEW_BODY(kNewArrAl, n, static_cast<size_t>(al), false, NewAlF, n, al);
}
MT_NEW_EXPORT void* operator new(size_t n, std::align_val_t al, const std::nothrow_t& nt) noexcept {
  MT_NEW_BODY(kNewAlNt, n, static_cast<size_t>(al), true, NewAlNtF, n, al, nt);
}
MT_NEW_EXPORT void* operator new[](size_t n, std::align_val_t al, const std::nothrow_t& nt) noexcept {
  MT_NEW_BODY(kNewArrAlNt, n, static_cast<size_t>(al), true, NewAlNtF, n, al, nt);
}

MT_NEW_EXPORT void operator delete(void* p) noexcept { MT_DELETE_BODY(kDel, DelF, p); }
MT_NEW_EXPORT void operator delete[](void* p) noexcept { MT_DELETE_BODY(kDelArr, DelF, p); }
MT_NEW_EXPORT void operator delete(void* p, size_t n) noexcept { MT_DELETE_BODY(kDelSz, DelSzF, p, n); }
MT_NEW_EXPORT void operator delete[](void* p, size_t n) noexcept { MT_DELETE_BODY(kDelArrSz, DelSzF, p, n); }
MT_NEW_EXPORT void operator delete(void* p, const std::nothrow_t& nt) noexcept { MT_DELETE_BODY(kDelNt, DelNtF, p, nt); }
MT_NEW_EXPORT void operator delete[](void* p, const std::nothrow_t& nt) noexcept {
  MT_DELETE_BODY(kDelArrNt, DelNtF, p, nt);
}
MT_NEW_EXPORT void operator delete(void* p, std::align_val_t al) noexcept { MT_DELETE_BODY(kDelAl, DelAlF, p, al); }
MT_NEW_EXPORT void operator delete[](void* p, std::align_val_t al) noexcept {
  MT_DELETE_BODY(kDelArrAl, DelAlF, p, al);
}
MT_NEW_EXPORT void operator delete(void* p, size_t n, std::align_val_t al) noexcept {
  MT_DELETE_BODY(kDelSzAl, DelSzAlF, p, n, al);
}
MT_NEW_EXPORT void operator delete[](void* p, size_t n, std::align_val_t al) noexcept {
  MT_DELETE_BODY(kDelArrSzAl, DelSzAlF, p, n, al);
}
MT_NEW_EXPORT void operator delete(void* p, std::align_val_t al, const std::nothrow_t& nt) noexcept {
  MT_DELETE_BODY(kDelAlNt, DelAlNtF, p, al, nt);
}
MT_NEW_EXPORT void operator delete[](void* p, std::align_val_t al, const std::nothrow_t& nt) noexcept {
  MT_DELETE_BODY(kDelArrAlNt, DelAlNtF, p, al, nt);
}
