// The blocks of one scan, sorted by address, with the lookup the scan runs on
// every word it reads: "does this value point into a block, and which?".
//
// Blocks are grouped into regions (runs of blocks with gaps under 1 MiB: a
// glibc arena, a run of mappings); each region has a table with one entry per
// granule (4 KiB, or coarser where the region's blocks are sparse) naming the
// first block that ends past the granule's start. A lookup is a range check,
// a search among the few regions, one table load and a binary search among
// the blocks that touch one granule. memcheck does a binary search over all
// blocks instead (find_chunk_for); the answer is the same, including its rule
// that a zero-sized block covers one byte.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/capture/compiler.h"
#include "src/scan/scan_types.h"

namespace memtrace::scan {

inline constexpr uint32_t kNoBlock = 0xffffffffu;

class BlockIndex {
 public:
  // Takes every block that is classified: not root-flagged, not a mapping
  // that contains heap blocks (a custom allocator's arena: the heap blocks are
  // the blocks), not overlapping an earlier block. `excluded` receives the
  // input indices left out for the last two reasons.
  void Build(std::span<const Block> blocks, std::vector<uint32_t>* excluded);

  uint32_t size() const { return static_cast<uint32_t>(start_.size()); }
  uint64_t start(uint32_t i) const { return start_[i]; }
  uint64_t end(uint32_t i) const { return end_[i]; }  // start + size, or start + 1 for a zero-sized block
  // Its size, but 1 for a zero-sized block (which has no word to scan
  // either way); read from the index's own arrays, in address order, where
  // the caller's Block array would cost a cache miss per block.
  uint64_t extent(uint32_t i) const { return end_[i] - start_[i]; }
  uint32_t input(uint32_t i) const { return input_[i]; }
  uint64_t lowest() const { return lo_; }
  uint64_t highest() const { return lo_ + span_; }
  size_t MemoryBytes() const;

  // The block containing `value`, or kNoBlock.
  MT_ALWAYS_INLINE uint32_t Find(uint64_t value) const {
    if (value - lo_ >= span_) return kNoBlock;
    const Region* r = &regions_[0];
    if (regions_.size() > 1) r = FindRegion(value);
    if (value - r->base >= r->limit - r->base) return kNoBlock;
    size_t slot = r->first_slot + ((value - r->base) >> r->shift);
    uint32_t lo = granule_first_[slot], hi = granule_first_[slot + 1];
    if (hi >= size()) hi = size() - 1;
    // The last block in [lo, hi] that starts at or below value.
    while (lo < hi) {
      uint32_t mid = (lo + hi + 1) / 2;
      if (start_[mid] <= value) lo = mid; else hi = mid - 1;
    }
    return (start_[lo] <= value && value < end_[lo]) ? lo : kNoBlock;
  }

 private:
  struct Region {
    uint64_t base, limit;  // [base, limit): base granule-aligned
    uint32_t shift;        // granule = 1 << shift bytes
    uint32_t first_slot;   // its first entry in granule_first_ (one more entry than granules)
  };
  const Region* FindRegion(uint64_t value) const;

  std::vector<uint64_t> start_, end_;
  std::vector<uint32_t> input_;
  std::vector<Region> regions_;
  std::vector<uint32_t> granule_first_;
  uint64_t lo_ = 1, span_ = 0;  // empty index: every lookup misses
};

}  // namespace memtrace::scan
