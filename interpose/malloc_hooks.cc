// Hooks for the malloc family. Each one calls the real function and, when the
// calling thread is traced, records the event through src/capture. Nothing
// here formats, aggregates or does I/O.
//
// libc semantics are the real allocator's: every hook returns exactly what
// the real call returned and leaves errno as the real call left it. Capture
// never changes errno: its slow paths that may (a thread's registration, a
// stack walk, a full ring) save and restore it themselves, so the fast path
// does not touch it. C++ operator new/delete are
// not hooked: libstdc++ implements them on malloc/free, which land here.
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include <cstring>

#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/os_memory.h"
#include "src/capture/sampler.h"

using memtrace::CaptureAlloc;
using memtrace::CaptureEnter;
using memtrace::CaptureFree;
using memtrace::CaptureLeave;
using memtrace::ClockNow;
using memtrace::StackRecord;
using memtrace::ThreadSlot;
namespace real = memtrace::real;

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Heap used by the tracer's own threads is reported as tracer overhead.
MT_NOINLINE void CountInternal(void* p, int sign) noexcept {
  if (p == nullptr || real::fn.malloc_usable_size == nullptr) return;
  memtrace::g_internal_heap_bytes.bytes.fetch_add(sign * static_cast<int64_t>(real::fn.malloc_usable_size(p)),
                                            std::memory_order_relaxed);
}

void* ArenaAllocOrEnomem(size_t n, size_t align) noexcept {
  void* p = real::ArenaAlloc(n, align);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

// The common shape of every allocating hook. `call` runs the real function.
template <typename Call>
MT_ALWAYS_INLINE void* TracedAlloc(size_t size, Call call) noexcept {
  memtrace::ThreadState& t = memtrace::t_state;
  bool sampling = MT_UNLIKELY(memtrace::g_sample_period != 0);
  // Sampling mode: an allocation that is not sampled leaves no trace at all.
  if (sampling && t.guard == 0 && t.paused == 0 && !memtrace::SampleAllocation(size)) return call();
  ThreadSlot* s = MT_LIKELY(t.paused == 0) ? CaptureEnter() : nullptr;
  if (MT_LIKELY(s != nullptr)) {
    const StackRecord* st = MT_CAPTURE_STACK(s);
    void* p = call();
    if (MT_LIKELY(p != nullptr) && (!sampling || memtrace::g_sampled.Insert(reinterpret_cast<uintptr_t>(p)))) {
      CaptureAlloc(s, p, size, st);
    }
    CaptureLeave(s);
    return p;
  }
  void* p = call();
  if (MT_UNLIKELY(memtrace::t_state.guard != 0)) {
    if (memtrace::t_state.internal != 0) CountInternal(p, +1);
    else memtrace::CaptureTracerAlloc(p);
  }
  return p;
}

// malloc, free, calloc and realloc are split in two. The exported function
// is thin: in sampling mode it sends an allocation that is not sampled, or
// the free of a block that certainly was not, straight to the real function
// with a tail jump, before any register is saved. Everything else goes on,
// by a tail jump too, to the full hook (MallocFull, ...), whose frame then
// sits where the caller's call left it, so MT_CAPTURE_STACK starts from the
// caller as before. (In a build without sibling-call optimisation the thin
// function's frame comes first: it lies in this library, and the Unwinder
// drops it.)
bool RealReadyNow() noexcept { return real::state.load(std::memory_order_acquire) == 2; }

// Sampling mode, in a thin hook: true, with the bytes counted down, when an
// allocation of n bytes is not sampled (SampleAllocation's common case) and
// may go straight to the real function.
MT_ALWAYS_INLINE bool UnsampledFast(size_t n) noexcept {
  memtrace::ThreadState& t = memtrace::t_state;
  if (t.guard != 0 || t.paused != 0 || t.sample_countdown <= static_cast<int64_t>(n) || !RealReadyNow()) return false;
  t.sample_countdown -= static_cast<int64_t>(n);
  return true;
}

MT_NOINLINE void* MallocFull(size_t n) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return ArenaAllocOrEnomem(n, 16);
  return TracedAlloc(n, [n] { return real::fn.malloc(n); });
}

MT_NOINLINE void FreeFull(void* p) noexcept {
  if (p == nullptr || MT_UNLIKELY(real::ArenaOwns(p))) return;
  if (MT_UNLIKELY(!real::Ready())) return;  // cannot be a real block yet
  // Sampling mode: only the frees of sampled blocks are events.
  if (MT_UNLIKELY(memtrace::g_sample_period != 0) && memtrace::t_state.guard == 0 &&
      !memtrace::g_sampled.Erase(reinterpret_cast<uintptr_t>(p))) {
    real::fn.free(p);
    return;
  }
  ThreadSlot* s = CaptureEnter();
  if (MT_LIKELY(s != nullptr)) {
    CaptureFree(s, p, ClockNow());  // stamped before the real free: see clock.h
    real::fn.free(p);
    CaptureLeave(s);
    return;
  }
  if (MT_UNLIKELY(memtrace::t_state.internal != 0)) CountInternal(p, -1);
  real::fn.free(p);
}

MT_NOINLINE void* CallocFull(size_t count, size_t size, size_t total) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return ArenaAllocOrEnomem(total, 16);  // .bss is zeroed
  return TracedAlloc(total, [count, size] { return real::fn.calloc(count, size); });
}

MT_NOINLINE void* ReallocFull(void* p, size_t n) noexcept {
  if (p == nullptr) return malloc(n);
  if (MT_UNLIKELY(real::ArenaOwns(p))) {
    // Move a bootstrap block into the real heap; the arena block is never freed.
    size_t old = real::ArenaSize(p);
    if (n == 0) return nullptr;
    void* q = malloc(n);
    if (q != nullptr) std::memcpy(q, p, old < n ? old : n);
    return q;
  }
  if (MT_UNLIKELY(!real::Ready())) {
    errno = ENOMEM;
    return nullptr;
  }
  memtrace::ThreadState& t = memtrace::t_state;
  // Which halves are recorded: the free of p and the allocation of q. In
  // sampling mode, only a sampled p and a sampled q.
  bool sampling = MT_UNLIKELY(memtrace::g_sample_period != 0) && t.guard == 0;
  bool record_free = true, record_alloc = t.paused == 0;
  if (sampling) {
    record_free = memtrace::g_sampled.Erase(reinterpret_cast<uintptr_t>(p));
    record_alloc = record_alloc && memtrace::SampleAllocation(n);
    if (!record_free && !record_alloc) return real::fn.realloc(p, n);
  }
  ThreadSlot* s = CaptureEnter();
  if (MT_LIKELY(s != nullptr)) {
    const StackRecord* st = record_alloc ? MT_CAPTURE_STACK(s) : nullptr;
    uint64_t free_ts = ClockNow();  // before the real call may release p
    void* q = real::fn.realloc(p, n);
    if (q != nullptr) {
      if (record_free) CaptureFree(s, p, free_ts);
      if (record_alloc && (!sampling || memtrace::g_sampled.Insert(reinterpret_cast<uintptr_t>(q)))) {
        CaptureAlloc(s, q, n, st);
      }
    } else if (n == 0) {
      if (record_free) CaptureFree(s, p, free_ts);  // glibc: realloc(p, 0) frees p and returns NULL
    } else if (sampling && record_free) {
      memtrace::g_sampled.Insert(reinterpret_cast<uintptr_t>(p));  // failed: p is still live
    }
    CaptureLeave(s);
    return q;
  }
  if (MT_UNLIKELY(memtrace::t_state.internal != 0)) {
    CountInternal(p, -1);
    void* q = real::fn.realloc(p, n);
    CountInternal(q != nullptr ? q : (n == 0 ? nullptr : p), +1);
    return q;
  }
  void* q = real::fn.realloc(p, n);
  if (MT_UNLIKELY(memtrace::t_state.guard != 0) && q != p) memtrace::CaptureTracerAlloc(q);
  return q;
}

}  // namespace

MT_EXPORT void* malloc(size_t n) noexcept {
  if (MT_UNLIKELY(memtrace::g_sample_period != 0) && UnsampledFast(n)) return real::fn.malloc(n);
  return MallocFull(n);
}

MT_EXPORT void free(void* p) noexcept {
  if (MT_UNLIKELY(memtrace::g_sample_period != 0) && p != nullptr && !real::ArenaOwns(p) &&
      memtrace::t_state.guard == 0 && memtrace::g_sampled.CertainlyNot(reinterpret_cast<uintptr_t>(p)) &&
      RealReadyNow()) {
    return real::fn.free(p);
  }
  return FreeFull(p);
}

MT_EXPORT void* calloc(size_t count, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (MT_UNLIKELY(memtrace::g_sample_period != 0) && UnsampledFast(total)) return real::fn.calloc(count, size);
  return CallocFull(count, size, total);
}

MT_EXPORT void* realloc(void* p, size_t n) noexcept {
  // Sampling mode: neither the old block nor the new allocation sampled.
  if (MT_UNLIKELY(memtrace::g_sample_period != 0) && p != nullptr && !real::ArenaOwns(p) &&
      memtrace::g_sampled.CertainlyNot(reinterpret_cast<uintptr_t>(p)) && UnsampledFast(n)) {
    return real::fn.realloc(p, n);
  }
  return ReallocFull(p, n);
}

MT_EXPORT void* reallocarray(void* p, size_t count, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, total);
}

MT_EXPORT void* memalign(size_t align, size_t n) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return ArenaAllocOrEnomem(n, align);
  return TracedAlloc(n, [align, n] { return real::fn.memalign(align, n); });
}

MT_EXPORT void* aligned_alloc(size_t align, size_t n) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return ArenaAllocOrEnomem(n, align);
  if (real::fn.aligned_alloc == nullptr) return memalign(align, n);
  return TracedAlloc(n, [align, n] { return real::fn.aligned_alloc(align, n); });
}

MT_EXPORT int posix_memalign(void** out, size_t align, size_t n) noexcept {
  if (MT_UNLIKELY(!real::Ready())) {
    if (align % sizeof(void*) != 0 || (align & (align - 1)) != 0 || align == 0) return EINVAL;
    void* p = real::ArenaAlloc(n, align);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
  }
  int rc = 0;
  void* result = TracedAlloc(n, [&]() -> void* {
    void* p = nullptr;
    rc = real::fn.posix_memalign(&p, align, n);
    return rc == 0 ? p : nullptr;
  });
  if (rc == 0) *out = result;  // *out is untouched on failure, as in glibc
  return rc;
}

MT_EXPORT void* valloc(size_t n) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return ArenaAllocOrEnomem(n, 4096);
  return TracedAlloc(n, [n] { return real::fn.valloc(n); });
}

MT_EXPORT void* pvalloc(size_t n) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return ArenaAllocOrEnomem(n, 4096);
  return TracedAlloc(n, [n] { return real::fn.pvalloc(n); });
}

MT_EXPORT size_t malloc_usable_size(void* p) noexcept {
  if (p == nullptr) return 0;
  if (real::ArenaOwns(p)) return real::ArenaSize(p);
  if (MT_UNLIKELY(!real::Ready()) || real::fn.malloc_usable_size == nullptr) return 0;
  return real::fn.malloc_usable_size(p);
}
