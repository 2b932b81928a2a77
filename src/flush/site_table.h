// Allocation sites: one per (interned stack, memory space), with the
// aggregates every report prints, and the totals per memory space. The heap
// table and the mapping table both account through it, so a site's numbers
// mean the same whatever the memory.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/capture/stack_depot.h"

namespace memtrace {

enum class Space : uint8_t {
  kHeap = 0,
  kAnonMmap = 1,
  kFileMmap = 2,
  kCudaDevice = 3,   // device memory (per device ordinal)
  kCudaPinned = 4,   // page-locked host memory
  kCudaManaged = 5,  // unified memory
};
inline constexpr int kSpaceCount = 6;
const char* SpaceName(Space space);

struct SiteStats {
  uint64_t live_bytes = 0;
  uint64_t live_blocks = 0;  // heap: blocks; mappings: disjoint mapped ranges
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t alloc_bytes = 0;
  uint64_t peak_live_bytes = 0;
};

class SiteTable {
 public:
  SiteTable();

  // The site of `stack` in `space` (and on `device`, for CUDA memory; -1
  // otherwise), created on first use. A null stack (not captured) has one
  // site per space and device too.
  uint32_t SiteFor(const StackRecord* stack, Space space, int device = -1) {
    // Heap sites, by far the most frequent, are found by stack id (ids are
    // dense); the others through the hash map.
    if (space == Space::kHeap && device == -1 && stack != nullptr && stack->id < heap_site_of_stack_.size() &&
        heap_site_of_stack_[stack->id] != kNoSite) {
      return heap_site_of_stack_[stack->id];
    }
    return SiteForSlow(stack, space, device);
  }

  // A new block (allocation, mapping) of `bytes` at `site`. Inline: the
  // flusher runs these once per event.
  void OnAlloc(uint32_t site, uint64_t bytes) {
    SiteStats& sp = spaces_[static_cast<int>(keys_[site].space)];
    for (SiteStats* s : {&sites_[site], &sp}) {
      Grow(*s, bytes);
      s->live_blocks += 1;
      s->allocs += 1;
    }
    live_bytes_ += bytes;
    peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
  }
  // A block allocated and released again before anything else happened:
  // the same totals as OnAlloc then OnFree, in one step.
  void OnAllocFreed(uint32_t site, uint64_t bytes) {
    SiteStats& sp = spaces_[static_cast<int>(keys_[site].space)];
    for (SiteStats* s : {&sites_[site], &sp}) {
      s->alloc_bytes += bytes;
      s->peak_live_bytes = std::max(s->peak_live_bytes, s->live_bytes + bytes);
      s->allocs += 1;
      s->frees += 1;
    }
    peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_ + bytes);
  }
  // A whole block released.
  void OnFree(uint32_t site, uint64_t bytes) {
    SiteStats& sp = spaces_[static_cast<int>(keys_[site].space)];
    for (SiteStats* s : {&sites_[site], &sp}) {
      s->live_bytes -= bytes;
      s->live_blocks -= 1;
      s->frees += 1;
    }
    live_bytes_ -= bytes;
  }
  // A block changed without being allocated or freed: a partial unmap
  // (bytes down, maybe one block more for a hole), a move. `new_memory`: the
  // added bytes are newly obtained (an mremap growth), so they count in
  // alloc_bytes too.
  void Adjust(uint32_t site, int64_t delta_bytes, int64_t delta_blocks, bool new_memory = false);

  size_t size() const { return sites_.size(); }
  const SiteStats& site(size_t i) const { return sites_[i]; }
  const StackRecord* stack_of(size_t i) const { return keys_[i].stack; }
  Space space_of(size_t i) const { return keys_[i].space; }
  int device_of(size_t i) const { return keys_[i].device; }
  const SiteStats& space_totals(Space space) const { return spaces_[static_cast<int>(space)]; }
  // Live bytes over all spaces, and their peak.
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t peak_live_bytes() const { return peak_live_bytes_; }

 private:
  struct Key {
    const StackRecord* stack;
    Space space;
    int device;
    bool operator==(const Key& o) const { return stack == o.stack && space == o.space && device == o.device; }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.stack, static_cast<int>(k.space), k.device);
    }
  };
  static void Grow(SiteStats& s, uint64_t bytes) {
    s.live_bytes += bytes;
    s.alloc_bytes += bytes;
    s.peak_live_bytes = std::max(s.peak_live_bytes, s.live_bytes);
  }
  uint32_t SiteForSlow(const StackRecord* stack, Space space, int device);

  std::vector<SiteStats> sites_;
  std::vector<Key> keys_;
  absl::flat_hash_map<Key, uint32_t> by_key_;
  static constexpr uint32_t kNoSite = UINT32_MAX;
  std::vector<uint32_t> heap_site_of_stack_;  // by StackRecord::id
  std::array<SiteStats, kSpaceCount> spaces_{};
  uint64_t live_bytes_ = 0;
  uint64_t peak_live_bytes_ = 0;
};

}  // namespace memtrace
