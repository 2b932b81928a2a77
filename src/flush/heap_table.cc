// Live heap blocks (see heap_table.h).
#include "src/flush/heap_table.h"

#include "src/capture/sampler.h"

namespace memtrace {

void HeapTable::Retire(const LiveBlock& b) {
  sites_->OnFree(b.site, b.size);
  threads_->Account(b.thread, -static_cast<int64_t>(b.size), -1, 0);
}

void HeapTable::OnAlloc(uint64_t addr, uint64_t size, const StackRecord* stack, uint32_t thread, Space space,
                        int device) {
  if (sample_period_ != 0) size = EstimatedBytes(size, sample_period_);
  uint32_t site = sites_->SiteFor(stack, space, device);
  uint32_t bit = TracerBit(addr);
  if (MT_UNLIKELY((tracer_filter_[bit / 64] >> (bit % 64)) & 1)) tracer_blocks_.erase(addr);  // freed unseen, reused
  auto [block, inserted] = live_.Insert(addr, LiveBlock{size, site, thread});
  if (!inserted) {
    // A free we never saw (a path that bypasses the hooks): retire the old
    // block so the totals stay consistent, and count it.
    ++counters_.replaced_blocks;
    Retire(*block);
    *block = LiveBlock{size, site, thread};
  }
  sites_->OnAlloc(site, size);
  threads_->Account(thread, static_cast<int64_t>(size), 1, size);
}

void HeapTable::OnFree(uint64_t addr) {
  LiveBlock b;
  if (!live_.Erase(addr, &b)) {
    if (tracer_blocks_.erase(addr) > 0) ++counters_.tracer_frees;
    else ++counters_.unmatched_frees;
    return;
  }
  Retire(b);
}

void HeapTable::OnTracerAlloc(uint64_t addr) {
  LiveBlock b;
  if (live_.Erase(addr, &b)) {  // the newer owner wins
    ++counters_.replaced_blocks;
    Retire(b);
  }
  tracer_blocks_.insert(addr);
  uint32_t bit = TracerBit(addr);
  tracer_filter_[bit / 64] |= uint64_t{1} << (bit % 64);
}

}  // namespace memtrace
