// Live heap blocks (see heap_table.h).
#include "src/flush/heap_table.h"

#include "src/capture/sampler.h"

namespace memtrace {

void HeapTable::OnAlloc(uint64_t addr, uint64_t size, const StackRecord* stack, uint32_t thread, Space space,
                        int device) {
  if (sample_period_ != 0) size = EstimatedBytes(size, sample_period_);
  uint32_t site = sites_->SiteFor(stack, space, device);
  tracer_blocks_.erase(addr);  // freed through a path we do not see, then reused
  auto [it, inserted] = live_.try_emplace(addr, LiveBlock{size, site, thread});
  if (!inserted) {
    // A free we never saw (a path that bypasses the hooks): retire the old
    // block so the totals stay consistent, and count it.
    ++counters_.replaced_blocks;
    sites_->OnFree(it->second.site, it->second.size);
    threads_->Account(it->second.thread, -static_cast<int64_t>(it->second.size), -1, 0);
    it->second = LiveBlock{size, site, thread};
  }
  sites_->OnAlloc(site, size);
  threads_->Account(thread, static_cast<int64_t>(size), 1, size);
}

void HeapTable::OnFree(uint64_t addr) {
  auto it = live_.find(addr);
  if (it == live_.end()) {
    if (tracer_blocks_.erase(addr) > 0) ++counters_.tracer_frees;
    else ++counters_.unmatched_frees;
    return;
  }
  sites_->OnFree(it->second.site, it->second.size);
  threads_->Account(it->second.thread, -static_cast<int64_t>(it->second.size), -1, 0);
  live_.erase(it);
}

void HeapTable::OnTracerAlloc(uint64_t addr) {
  auto it = live_.find(addr);
  if (it != live_.end()) {  // the newer owner wins
    ++counters_.replaced_blocks;
    sites_->OnFree(it->second.site, it->second.size);
    threads_->Account(it->second.thread, -static_cast<int64_t>(it->second.size), -1, 0);
    live_.erase(it);
  }
  tracer_blocks_.insert(addr);
}


}  // namespace memtrace
