// Hooks for mmap, mmap64, munmap, mremap and mprotect. They record mappings
// the program makes through libc, and which of their pages are PROT_NONE
// (reserved, not committed); mappings glibc makes internally (malloc's own
// arenas, thread stacks, ld.so loading libraries) do not go through these
// symbols and are not seen, nor are raw system calls (docs/limitations.md).
// Failed calls record nothing. Before the real functions are resolved, and for the
// tracer's own use, the calls go straight to the kernel.
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/real.h"
#include "src/capture/capture.h"

using memtrace::CaptureEnter;
using memtrace::CaptureLeave;
using memtrace::CapturePush;
using memtrace::ClockNow;
using memtrace::EventKind;
using memtrace::StackRecord;
using memtrace::ThreadSlot;
namespace real = memtrace::real;

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace memtrace {
// MEMTRACE_TRACK_MMAP; set once before tracing starts.
bool g_track_mmap = true;
}  // namespace memtrace

namespace {

void* SysMmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept {
  long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  if (r < 0 && r > -4096) {
    errno = static_cast<int>(-r);
    return MAP_FAILED;
  }
  return reinterpret_cast<void*>(r);
}

// `allocation`: an mmap, which memtrace_pause() hides (an unmap or a
// protection change is recorded whatever the pause, like a free). Inside an
// operator new (kPausedInNew) nothing is: what the program's allocator maps
// and unmaps for itself there is hidden, as it is inside malloc, where the
// capture bracket's guard hides it.
MT_ALWAYS_INLINE ThreadSlot* EnterMapping(bool allocation) noexcept {
  if (!memtrace::g_track_mmap) return nullptr;
  uint32_t paused = memtrace::t_state.paused;
  if (MT_UNLIKELY(paused != 0) && (paused >= memtrace::kPausedInNew || allocation)) return nullptr;
  return CaptureEnter();
}

void* MmapImpl(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return SysMmap(addr, len, prot, flags, fd, off);
  ThreadSlot* s = EnterMapping(/*allocation=*/true);
  if (MT_LIKELY(s == nullptr)) return real::fn.mmap(addr, len, prot, flags, fd, off);
  const StackRecord* st = MT_CAPTURE_STACK(s);
  void* p = real::fn.mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED) {
    bool file = (flags & MAP_ANONYMOUS) == 0 && fd >= 0;
    CapturePush(s, file ? EventKind::kMapFile : EventKind::kMapAnon, ClockNow(), p,
                (len & memtrace::kMapSizeMask) | (prot == PROT_NONE ? memtrace::kMapProtNone : 0), st);
  }
  CaptureLeave(s);
  return p;
}

}  // namespace

MT_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept {
  return MmapImpl(addr, len, prot, flags, fd, off);
}

MT_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept {
  return MmapImpl(addr, len, prot, flags, fd, off);
}

MT_EXPORT int munmap(void* addr, size_t len) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return static_cast<int>(syscall(SYS_munmap, addr, len));
  ThreadSlot* s = EnterMapping(/*allocation=*/false);
  if (MT_LIKELY(s == nullptr)) return real::fn.munmap(addr, len);
  uint64_t ts = ClockNow();  // before the range can be reused by anyone
  int rc = real::fn.munmap(addr, len);
  if (rc == 0 && len > 0) CapturePush(s, EventKind::kUnmap, ts, addr, len, nullptr);
  CaptureLeave(s);
  return rc;
}

// Recorded whatever the pause (like munmap): a protection change is not an
// allocation. Stamped after the real call, like what appears.
MT_EXPORT int mprotect(void* addr, size_t len, int prot) noexcept {
  if (MT_UNLIKELY(!real::Ready())) return static_cast<int>(syscall(SYS_mprotect, addr, len, prot));
  ThreadSlot* s = EnterMapping(/*allocation=*/false);
  if (MT_LIKELY(s == nullptr)) return real::fn.mprotect(addr, len, prot);
  int rc = real::fn.mprotect(addr, len, prot);
  if (rc == 0 && len > 0) {
    CapturePush(s, EventKind::kProtect, ClockNow(), addr,
                (len & memtrace::kMapSizeMask) | (prot == PROT_NONE ? memtrace::kMapProtNone : 0), nullptr);
  }
  CaptureLeave(s);
  return rc;
}

MT_EXPORT void* mremap(void* old_addr, size_t old_len, size_t new_len, int flags, ...) noexcept {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  if (MT_UNLIKELY(!real::Ready())) {
    long r = syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr);
    if (r < 0 && r > -4096) {
      errno = static_cast<int>(-r);
      return MAP_FAILED;
    }
    return reinterpret_cast<void*>(r);
  }
  ThreadSlot* s = EnterMapping(/*allocation=*/false);
  if (MT_LIKELY(s == nullptr)) return real::fn.mremap(old_addr, old_len, new_len, flags, new_addr);
  uint64_t ts = ClockNow();
  void* p = real::fn.mremap(old_addr, old_len, new_len, flags, new_addr);
  if (p != MAP_FAILED) {
    // old_len == 0 duplicates a shared mapping: the old one stays too.
    bool keep = (flags & MREMAP_DONTUNMAP) != 0 || old_len == 0;
    CapturePush(s, keep ? EventKind::kRemapFromKeep : EventKind::kRemapFrom, ts, old_addr, old_len, nullptr);
    CapturePush(s, keep ? EventKind::kRemapToKeep : EventKind::kRemapTo, ClockNow(), p, new_len, nullptr);
  }
  CaptureLeave(s);
  return p;
}
