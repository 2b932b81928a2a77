// A fast x86-64 unwinder for the capture path: DWARF call-frame information
// (.eh_frame) evaluated once per return address and cached, so unwinding a
// known stack is a cache lookup and two loads per frame. It needs no frame
// pointers: a frame's canonical frame address (CFA) is RSP or RBP plus an
// offset, the return address is at CFA-8, and RBP may be saved at CFA+k --
// which is what compilers emit for ordinary code. Anything else (DWARF
// expressions, signal frames, a CFA outside the thread's stack) makes Capture
// return -1 and the caller falls back to libgcc (backtrace) for the whole stack, so the
// result is never a wrong stack, at worst a slower one.
//
// Code with no unwind table at all (Go, JIT compilers) is walked by its frame
// pointers, every word read between SP and the top of the thread's stack
// (stack_bounds.h); the walk ends where a frame has no valid frame pointer.
// Where C called from Go returns into runtime.asmcgocall, the walk goes on
// on the goroutine's stack (go_runtime.h).
//
// FDEs are found with libgcc's _Unwind_Find_FDE (from libgcc_s, dlopen'ed
// RTLD_LOCAL); only cache misses call it.
#pragma once

#include <atomic>
#include <cstdint>

#include "src/capture/cfi_parse.h"

namespace memtrace {

class StackMemo;
struct StackRecord;

class CfiUnwinder {
 public:
  // False if libgcc_s or the cache cannot be had (then Capture always fails).
  bool Init() noexcept;
  // Return addresses of the stack above the frame at `fp0`, innermost first:
  // out[0] is that frame's return address. `fp0` must be a live frame of the
  // calling thread laid out with a frame pointer ([fp0] the saved RBP,
  // [fp0+8] the return address), as __builtin_frame_address(0) gives it, and
  // stay live until Walk returns. -1: use another unwinder.
  // With a memo (stack_memo.h), the walk is recorded into it under
  // (fp0, hint); the caller commits it with the record it interns. A failed
  // walk is forgotten.
  int Walk(uintptr_t fp0, uintptr_t* out, int max, StackMemo* memo = nullptr, uintptr_t hint = 0) noexcept;
  // Walk from Capture's own frame: out[0] is Capture's return address.
  int Capture(uintptr_t* out, int max) noexcept;

  // The rule for a return address (cfi_parse.h).
  using Rule = CfiRule;

  // Stacks handed to the fallback unwinder.
  uint64_t fallbacks() const noexcept { return fallbacks_.load(std::memory_order_relaxed); }

 private:
  Rule Compute(uintptr_t pc) noexcept;
  // From runtime.asmcgocall's frame at `sp` on to the goroutine's frames.
  int WalkGoroutine(uintptr_t sp, uintptr_t hi, uintptr_t* out, int n, int max) noexcept;
  // The packed rule for `ra` (see Pack in the .cc), computing it on a miss.
  uint64_t Lookup(uintptr_t ra) noexcept;
  uint64_t SlowLookup(uintptr_t ra) noexcept;

  // Two levels: a direct-mapped 64 KiB table that stays in cache for the hot
  // call sites (entries overwritten on conflict, read with the key checked
  // before and after the value), over a 1 MiB probed table that keeps every
  // rule computed.
  static constexpr uint32_t kHotBits = 12;
  static constexpr uint32_t kCacheBits = 16;
  struct Entry {
    std::atomic<uint64_t> key;
    std::atomic<uint64_t> value;
  };
  Entry hot_[1u << kHotBits] = {};
  Entry* cache_ = nullptr;
  void* (*find_fde_)(void*, void*) = nullptr;
  std::atomic<uint64_t> fallbacks_{0};
};

inline CfiUnwinder g_cfi_unwinder;

}  // namespace memtrace
