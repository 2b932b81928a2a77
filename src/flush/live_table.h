// The live-block table: block address -> LiveBlock, the flusher's hottest
// structure (one insert per allocation, one lookup and erase per free).
//
// Open addressing with linear probing over a power-of-two array of 24-byte
// slots, Fibonacci hashing of the address, and backward-shift deletion (no
// tombstones, so probe lengths do not decay under churn). The load stays at
// or below 3/4: expected probes ~2.5 for a hit, ~8.5 for a miss, and between
// 32 and 64 bytes per live block (the issue-7 bound is 64). Address 0 marks
// an empty slot; a block at address 0 (never returned by malloc, but the
// table does not rely on it) is kept aside.
//
// Single-threaded: only the merger's thread touches it. Storage comes from
// the real heap and is counted as the tracer's own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "src/capture/compiler.h"

namespace memtrace {

// 16 bytes: what the tracer keeps per live block besides its address.
struct LiveBlock {
  uint64_t size;
  uint32_t site;    // index into the SiteTable
  uint32_t thread;  // index into the thread table
};

class LiveTable {
 public:
  // The block at `addr`, or null.
  MT_ALWAYS_INLINE LiveBlock* Find(uint64_t addr) {
    if (addr == 0) return has_zero_ ? &zero_ : nullptr;
    if (size_ == 0) return nullptr;
    for (size_t i = Home(addr);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.addr == addr) return &s.block;
      if (s.addr == 0) return nullptr;
    }
  }
  const LiveBlock* Find(uint64_t addr) const { return const_cast<LiveTable*>(this)->Find(addr); }

  // Inserts `b` at `addr`; if a block is already there, leaves it and
  // returns it with false.
  // (Inline: the flusher inserts and erases once per heap event.)
  MT_ALWAYS_INLINE std::pair<LiveBlock*, bool> Insert(uint64_t addr, const LiveBlock& b) {
    if (MT_UNLIKELY(addr == 0)) return InsertZero(b);
    if (MT_UNLIKELY((size_ + 1) * 4 > capacity() * 3)) Grow();
    for (size_t i = Home(addr);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.addr == addr) return {&s.block, false};
      if (s.addr == 0) {
        s.addr = addr;
        s.block = b;
        ++size_;
        return {&s.block, true};
      }
    }
  }

  // Removes the block at `addr` into *out; false if there is none.
  MT_ALWAYS_INLINE bool Erase(uint64_t addr, LiveBlock* out) {
    if (MT_UNLIKELY(addr == 0)) return EraseZero(out);
    if (MT_UNLIKELY(size_ == 0)) return false;
    size_t i = Home(addr);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].addr == addr) break;
      if (slots_[i].addr == 0) return false;
    }
    *out = slots_[i].block;
    // Backward shift: move up every later entry of the run whose home does
    // not lie cyclically in (i, j], so no lookup ever stops at the hole.
    for (size_t j = (i + 1) & mask_; slots_[j].addr != 0; j = (j + 1) & mask_) {
      size_t home = Home(slots_[j].addr);
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i].addr = 0;
    --size_;
    return true;
  }

  template <typename Fn>
  void ForEach(Fn&& fn) const {
    if (has_zero_) fn(uint64_t{0}, zero_);
    for (size_t i = 0; i < capacity(); ++i) {
      if (slots_[i].addr != 0) fn(slots_[i].addr, slots_[i].block);
    }
  }

  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  size_t capacity() const { return slots_ == nullptr ? 0 : mask_ + 1; }
  // What the table occupies.
  uint64_t bytes() const { return capacity() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t addr;  // 0: empty
    LiveBlock block;
  };
  static_assert(sizeof(Slot) == 24);
  static constexpr size_t kInitialCapacity = 1024;

  size_t Home(uint64_t addr) const { return static_cast<size_t>((addr * 0x9e3779b97f4a7c15ull) >> shift_); }

  // The block at address 0, kept aside (0 marks an empty slot).
  MT_NOINLINE std::pair<LiveBlock*, bool> InsertZero(const LiveBlock& b) {
    if (has_zero_) return {&zero_, false};
    has_zero_ = true;
    zero_ = b;
    return {&zero_, true};
  }
  MT_NOINLINE bool EraseZero(LiveBlock* out) {
    if (!has_zero_) return false;
    *out = zero_;
    has_zero_ = false;
    return true;
  }

  MT_NOINLINE void Grow() {
    size_t old_capacity = capacity();
    size_t new_capacity = old_capacity == 0 ? kInitialCapacity : old_capacity * 2;
    std::unique_ptr<Slot[]> old = std::move(slots_);
    slots_.reset(new Slot[new_capacity]());
    mask_ = new_capacity - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(new_capacity));
    for (size_t k = 0; k < old_capacity; ++k) {
      if (old[k].addr == 0) continue;
      size_t i = Home(old[k].addr);
      while (slots_[i].addr != 0) i = (i + 1) & mask_;
      slots_[i] = old[k];
    }
  }

  std::unique_ptr<Slot[]> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t size_ = 0;  // occupied slots (the zero block is apart)
  bool has_zero_ = false;
  LiveBlock zero_{};
};

}  // namespace memtrace
