// Live table and per-site aggregates (see heap_table.h).
#include "src/flush/heap_table.h"

#include <algorithm>

namespace memtrace {

HeapTable::HeapTable() {
  sites_.emplace_back();  // site 0: no stack
  stacks_.push_back(nullptr);
}

uint32_t HeapTable::SiteFor(const StackRecord* stack) {
  if (stack == nullptr) return 0;
  if (stack->id >= site_by_stack_id_.size()) {
    site_by_stack_id_.resize(std::max<size_t>(stack->id + 1, site_by_stack_id_.size() * 2), 0);
  }
  uint32_t& slot = site_by_stack_id_[stack->id];
  if (slot == 0) {
    sites_.emplace_back();
    stacks_.push_back(stack);
    slot = static_cast<uint32_t>(sites_.size() - 1) + 1;
  }
  return slot - 1;
}

void HeapTable::OnAlloc(uint64_t addr, uint64_t size, const StackRecord* stack, uint32_t thread, uint64_t ts) {
  uint32_t site = SiteFor(stack);
  tracer_blocks_.erase(addr);  // freed through a path we do not see, then reused
  bool inserted = live_.try_emplace(addr, LiveBlock{size, site, thread, ts}).second;
  if (!inserted) {
    // A free we never saw (e.g. through a path that bypasses the hooks):
    // retire the old block so the totals stay consistent.
    ++totals_.replaced_blocks;
    OnFree(addr);
    live_.emplace(addr, LiveBlock{size, site, thread, ts});
    --totals_.frees;  // that free was not a real one
  }
  SiteStats& s = sites_[site];
  s.live_bytes += size;
  s.live_blocks += 1;
  s.allocs += 1;
  s.alloc_bytes += size;
  s.peak_live_bytes = std::max(s.peak_live_bytes, s.live_bytes);
  totals_.live_bytes += size;
  totals_.live_blocks += 1;
  totals_.allocs += 1;
  totals_.alloc_bytes += size;
  totals_.peak_live_bytes = std::max(totals_.peak_live_bytes, totals_.live_bytes);
}

void HeapTable::OnTracerAlloc(uint64_t addr) {
  // The address may have been a traced block freed through a path we do not
  // see; the newer owner wins.
  if (live_.contains(addr)) {
    ++totals_.replaced_blocks;
    OnFree(addr);
    --totals_.frees;
  }
  tracer_blocks_.insert(addr);
}

void HeapTable::OnFree(uint64_t addr) {
  auto it = live_.find(addr);
  if (it == live_.end()) {
    if (tracer_blocks_.erase(addr) > 0) ++totals_.tracer_frees;
    else ++totals_.unmatched_frees;
    return;
  }
  const LiveBlock& b = it->second;
  SiteStats& s = sites_[b.site];
  s.live_bytes -= b.size;
  s.live_blocks -= 1;
  s.frees += 1;
  totals_.live_bytes -= b.size;
  totals_.live_blocks -= 1;
  totals_.frees += 1;
  live_.erase(it);
}

uint64_t HeapTable::MemoryBytes() const {
  return live_.capacity() * (sizeof(std::pair<uint64_t, LiveBlock>) + 1) +
         tracer_blocks_.capacity() * (sizeof(uint64_t) + 1) + sites_.capacity() * sizeof(SiteStats) +
         stacks_.capacity() * sizeof(void*) + site_by_stack_id_.capacity() * sizeof(uint32_t);
}

}  // namespace memtrace
