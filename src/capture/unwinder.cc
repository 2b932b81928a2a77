// Stack capture through the cached CFI unwinder or glibc (see unwinder.h).
#include "src/capture/unwinder.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <unwind.h>

#include <algorithm>
#include <cstring>

#include "src/capture/cfi_unwinder.h"
#include "src/config/config.h"
#include "src/log.h"

namespace memtrace {
namespace {

struct RangeQuery {
  uintptr_t addr;
  uintptr_t lo = 0, hi = 0;
};

// The executable address range of the object holding `addr`.
int FindTextRange(dl_phdr_info* info, size_t, void* data) {
  auto* q = static_cast<RangeQuery*>(data);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    uintptr_t end = start + ph.p_memsz;
    lo = std::min(lo, start);
    hi = std::max(hi, end);
    if (q->addr >= start && q->addr < end) contains = true;
  }
  if (!contains) return 0;
  q->lo = lo;
  q->hi = hi;
  return 1;
}

// The early back end: libgcc's unwinder, which libmemtrace links (through
// libstdc++) rather than loads, so it is there from the first hooked call.
struct GccTrace {
  void** out;
  int max, n;
};

_Unwind_Reason_Code GccStep(_Unwind_Context* ctx, void* arg) {
  auto* t = static_cast<GccTrace*>(arg);
  uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0 || t->n == t->max) return _URC_END_OF_STACK;
  t->out[t->n++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}

int GccBacktrace(void** out, int max) {
  GccTrace t{out, max, 0};
  _Unwind_Backtrace(&GccStep, &t);
  return t.n;
}

}  // namespace

void Unwinder::InitEarly(int max_frames) noexcept {
  max_frames_ = std::clamp(max_frames, 1, kMaxFramesLimit);
  RangeQuery q{reinterpret_cast<uintptr_t>(&FindTextRange)};
  dl_iterate_phdr(FindTextRange, &q);
  self_lo_ = q.lo;
  self_hi_ = q.hi;
  cfi_ = false;
  backtrace_ = &GccBacktrace;
}

const char* Unwinder::Init(int max_frames, bool use_cfi) noexcept {
  max_frames_ = std::clamp(max_frames, 1, kMaxFramesLimit);
  RangeQuery q{reinterpret_cast<uintptr_t>(&FindTextRange)};
  dl_iterate_phdr(FindTextRange, &q);
  self_lo_ = q.lo;
  self_hi_ = q.hi;

  // The fallback is glibc's backtrace() (libgcc's unwinder, which finds
  // unwind tables with _dl_find_object: no lock). Not libunwind: it opens a
  // pipe in the program at initialisation (to validate addresses by writing
  // to it), and a program that closes every descriptor and reuses the numbers
  // would have its own pipe or file written to.
  backtrace_ = reinterpret_cast<BacktraceFn>(&::backtrace);
  void* warm[4];
  ::backtrace(warm, 4);  // glibc loads libgcc_s on first use; do it now, not in a hook
  cfi_ = use_cfi && g_cfi_unwinder.Init();
  return cfi_ ? "cfi+libgcc" : "libgcc";
}

int Unwinder::Capture(uintptr_t fp0, uintptr_t* out, StackMemo* memo, uintptr_t hint) noexcept {
  constexpr int kSlack = 16;  // room for our own frames, removed below
  void* raw[kMaxFramesLimit + kSlack];
  int n = -1;
  if (cfi_) n = g_cfi_unwinder.Walk(fp0, reinterpret_cast<uintptr_t*>(raw), max_frames_ + kSlack, memo, hint);
  if (n < 0) n = backtrace_(raw, max_frames_ + kSlack);
  // Our frames: on top when a fallback unwinder started from its own frame,
  // and the pthread_create trampoline at the bottom of threads we started.
  int depth = 0;
  for (int i = 0; i < n && depth < max_frames_; ++i) {
    auto pc = reinterpret_cast<uintptr_t>(raw[i]);
    if (pc >= self_lo_ && pc < self_hi_) continue;
    out[depth++] = pc;
  }
  return depth;
}

}  // namespace memtrace
