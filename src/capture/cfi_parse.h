// One FDE of .eh_frame evaluated at one address: the call-frame rule the
// cached unwinder (cfi_unwinder.h) keeps per return address. Factored out of
// the unwinder so that it is a pure function of bytes: the fuzzer
// (tests/fuzz/cfi_fuzz.cc) feeds it hostile sections, the unit test known
// ones. Runs inside the traced program (on a rule-cache miss): no allocation,
// no lock, no system call, no exception.
//
// Every byte read lies in [lo, hi) and inside the FDE's and its CIE's own
// length: a record that claims to reach past either, a CIE pointer outside
// them, an augmentation string without its NUL, a LEB128 past the end --
// each yields "not ok" (the unwinder then hands the stack to libunwind),
// never a read outside. Arithmetic on hostile numbers wraps (no undefined
// behaviour). In the program, the FDE comes from libgcc's _Unwind_Find_FDE,
// which has already parsed the same records; the bounds there are the
// address space, and the records' lengths do the bounding.
#pragma once

#include <cstdint>

namespace memtrace {

// CFA = (cfa_rbp ? RBP : RSP) + cfa_off; the return address at CFA-8; RBP
// saved at CFA + rbp_off (0: not saved); end: no caller (the outermost
// frame). no_fde: the code has no unwind table (frame pointers, Go).
struct CfiRule {
  bool ok = false, end = false, cfa_rbp = false, no_fde = false;
  int64_t cfa_off = 0, rbp_off = 0;
};

// `fde`: the FDE's length field; `func`: its initial location (the address
// of the function it covers, as _Unwind_Find_FDE decodes it); `pc`: the
// address inside the function whose rule is wanted (return address - 1).
CfiRule ComputeCfiRule(uintptr_t lo, uintptr_t hi, uintptr_t fde, uintptr_t func, uintptr_t pc) noexcept;

// The rule packed into one word for the unwinder's lock-free cache (bit 63
// present, 62 ok, 61 end, 60 cfa_rbp, 59 no_fde; bits 0..31 cfa_off, 32..55
// rbp_off biased by 2^23). `*packable` is false for offsets that do not fit;
// the word is then "not ok".
uint64_t PackCfiRule(const CfiRule& rule, bool* packable) noexcept;
CfiRule UnpackCfiRule(uint64_t v) noexcept;

}  // namespace memtrace
