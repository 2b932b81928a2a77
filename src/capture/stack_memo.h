// A per-thread memo of recent stack walks, so that a stack seen before costs
// a handful of compares instead of an unwind and a depot lookup.
//
// Why it is exact: the CFI walk (cfi_unwinder.h) is a pure function of its
// starting frame address and of the stack words it reads (return addresses,
// and saved RBP values that a CFA rule then uses) -- the rules themselves
// depend only on the return addresses. The memo stores, per walk, the
// starting frame and every word the result depended on, as (address, value)
// pairs, in the order read. If every one of those words still holds the same
// value, the walk would read the same addresses, take the same rules and
// produce the same frames; the interned record is returned without walking.
// A word that differs (a different caller, a different saved RBP that the
// walk used) is a miss, and the stack is walked and remembered again.
//
// Saved RBP values that no rule consumed are not recorded: in code built
// without frame pointers RBP is an ordinary register whose value changes from
// call to call, and it must not make a known stack look new.
//
// The memo belongs to one thread slot: only its owner thread touches it,
// inside a hook (the re-entry guard is set), so nothing here is atomic. It is
// cleared when the slot gets a new thread: entries hold addresses of the
// owner's stack, which is only known to be mapped for that thread.
#pragma once

#include <cstdint>

#include "src/capture/compiler.h"

namespace memtrace {

struct StackRecord;

class StackMemo {
 public:
  static constexpr uint32_t kSets = 16, kWays = 4;
  static constexpr uint32_t kMaxReads = 96;  // longer walks are not remembered
  static_assert(kMaxReads % 4 == 0, "Find compares four words at a time");

  // Forgets everything (a new thread owns the memo).
  void Clear() noexcept;

  // The record of a remembered walk from `fp0` whose words all still hold;
  // null if none. `hint` (the hook's return address, or 0) spreads stacks of
  // equal depth over the sets; it never decides a hit.
  MT_ALWAYS_INLINE const StackRecord* Find(uintptr_t fp0, uintptr_t hint) const noexcept {
    const uint32_t first = SetOf(fp0, hint) * kWays;
    for (uint32_t w = 0; w < kWays; ++w) {
      if (tags_[first + w] != fp0) continue;
      const Entry& e = entries_[first + w];
      // Four words per branch: Commit padded the list to a multiple of four.
      uint64_t diff = 0;
      for (uint32_t i = 0; i < e.reads; i += 4) {
        diff = (Word(fp0, e.off[i]) ^ e.val[i]) | (Word(fp0, e.off[i + 1]) ^ e.val[i + 1]) |
               (Word(fp0, e.off[i + 2]) ^ e.val[i + 2]) | (Word(fp0, e.off[i + 3]) ^ e.val[i + 3]);
        if (diff != 0) break;
      }
      if (diff == 0) return e.record;
    }
    return nullptr;
  }

  // Starts remembering a walk from `fp0`, replacing the set's oldest entry.
  void Begin(uintptr_t fp0, uintptr_t hint) noexcept;
  // A stack word the walk's result depends on, in the order the walk read it.
  MT_ALWAYS_INLINE void Read(uintptr_t addr, uint64_t value) noexcept {
    if (open_ == nullptr) return;
    int64_t off = static_cast<int64_t>(addr - open_fp0_);
    if (open_->reads == kMaxReads || off < INT32_MIN || off > INT32_MAX) {
      open_ = nullptr;  // too long: not remembered
      return;
    }
    open_->off[open_->reads] = static_cast<int32_t>(off);
    open_->val[open_->reads] = value;
    ++open_->reads;
  }
  // The walk failed (another unwinder takes over): nothing is remembered.
  void Abort() noexcept { open_ = nullptr; }
  // The walk ended and its frames were interned as `record`.
  void Commit(const StackRecord* record) noexcept;

 private:
  // The starting frame of each entry's walk (0: empty), apart from the
  // entries: a new thread's Clear touches this one small array, not the
  // ~75 KiB of entries (a burst of threads would fault them all in).
  uintptr_t tags_[kSets * kWays];
  struct Entry {
    const StackRecord* record;
    uint32_t reads;           // a multiple of 4 once committed
    int32_t off[kMaxReads];   // from fp0
    uint64_t val[kMaxReads];
  };
  static uint64_t Word(uintptr_t fp0, int32_t off) noexcept {
    return *reinterpret_cast<const uint64_t*>(fp0 + static_cast<intptr_t>(off));
  }
  static uint32_t SetOf(uintptr_t fp0, uintptr_t hint) noexcept {
    uint64_t h = (fp0 ^ (hint * 0x9e3779b97f4a7c15ull)) >> 4;
    return static_cast<uint32_t>((h ^ (h >> 7) ^ (h >> 17)) & (kSets - 1));
  }

  uint8_t victim_[kSets];
  Entry* open_ = nullptr;
  uint32_t open_index_ = 0;
  uintptr_t open_fp0_ = 0;
  Entry entries_[kSets * kWays];  // last: only the entries a thread uses are touched
};

}  // namespace memtrace
