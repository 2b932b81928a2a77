// Stack capture for an allocation: the return addresses of the calling
// thread, with the tracer's own frames (the hook and this file on top, the
// thread trampoline at the bottom) removed, so frame 0 is the return address
// into the function that called malloc.
//
// The cached CFI unwinder (cfi_unwinder.h) is tried first; a stack it cannot
// unwind is unwound again with glibc's backtrace() (libgcc's unwinder, which
// glibc loads at our start-up, not in a hook). Not libunwind: it keeps a pipe
// open in the program to validate addresses, which a program that closes
// every descriptor and reuses the numbers would see written to.
#pragma once

#include <cstdint>

namespace memtrace {

class StackMemo;
struct StackRecord;

class Unwinder {
 public:
  // Loads the unwinder and finds our own code's address range. Returns the
  // name of the back end in use ("cfi+libgcc" or "libgcc").
  const char* Init(int max_frames, bool use_cfi = true) noexcept;
  // What tracing's start needs before Init may run (from inside any hook:
  // no dlopen): our own code's range, and libgcc's _Unwind_Backtrace (linked,
  // never loaded) for every stack. Init replaces it at the watcher's start.
  void InitEarly(int max_frames) noexcept;
  // Fills `out` (room for max_frames) with the stack above the frame at
  // `fp0` (see CfiUnwinder::Walk) and returns the number of frames. With the
  // thread's memo (stack_memo.h), a walk the CFI unwinder completes is
  // recorded under (fp0, hint); the caller commits it with its record.
  int Capture(uintptr_t fp0, uintptr_t* out, StackMemo* memo = nullptr, uintptr_t hint = 0) noexcept;

 private:
  using BacktraceFn = int (*)(void**, int);
  BacktraceFn backtrace_ = nullptr;
  bool cfi_ = false;
  int max_frames_ = 64;
  uintptr_t self_lo_ = 0, self_hi_ = 0;
};

inline Unwinder g_unwinder;

}  // namespace memtrace
