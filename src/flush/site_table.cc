// Per-site and per-space aggregates (see site_table.h).
#include "src/flush/site_table.h"

#include <algorithm>

namespace memtrace {

const char* SpaceName(Space space) {
  switch (space) {
    case Space::kHeap: return "heap";
    case Space::kAnonMmap: return "anon_mmap";
    case Space::kFileMmap: return "file_mmap";
    case Space::kCudaDevice: return "cuda_device";
    case Space::kCudaPinned: return "cuda_host_pinned";
    case Space::kCudaManaged: return "cuda_managed";
  }
  return "unknown";
}

SiteTable::SiteTable() = default;

uint32_t SiteTable::SiteForSlow(const StackRecord* stack, Space space, int device) {
  Key key{stack, space, device};
  if (space == Space::kHeap && device == -1 && stack != nullptr) {
    // Heap sites live in the dense index alone (a program with 600,000
    // stacks, `import torch`, would otherwise keep a hash entry per site too).
    if (stack->id >= heap_site_of_stack_.size()) {
      heap_site_of_stack_.resize(std::max<size_t>(stack->id + 1, heap_site_of_stack_.size() * 2), kNoSite);
    }
    uint32_t& site = heap_site_of_stack_[stack->id];
    if (site == kNoSite) {
      site = static_cast<uint32_t>(sites_.size());
      sites_.emplace_back();
      keys_.push_back(key);
    }
    return site;
  }
  auto [it, inserted] = by_key_.try_emplace(key, static_cast<uint32_t>(sites_.size()));
  if (inserted) {
    sites_.emplace_back();
    keys_.push_back(key);
  }
  return it->second;
}

void SiteTable::Adjust(uint32_t site, int64_t delta_bytes, int64_t delta_blocks, bool new_memory) {
  SiteStats& sp = spaces_[static_cast<int>(keys_[site].space)];
  for (SiteStats* s : {&sites_[site], &sp}) {
    s->live_bytes = static_cast<uint64_t>(static_cast<int64_t>(s->live_bytes) + delta_bytes);
    if (delta_bytes > 0) {
      if (new_memory) s->alloc_bytes += static_cast<uint64_t>(delta_bytes);
      s->peak_live_bytes = std::max(s->peak_live_bytes, s->live_bytes);
    }
    s->live_blocks = static_cast<uint64_t>(static_cast<int64_t>(s->live_blocks) + delta_blocks);
  }
  live_bytes_ = static_cast<uint64_t>(static_cast<int64_t>(live_bytes_) + delta_bytes);
  peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
}


}  // namespace memtrace
