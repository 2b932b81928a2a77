// Live blocks of one kind of memory (the heap; and, in a second instance, CUDA
// allocations): address -> size, site, thread (live_table.h). Fed only by the
// merger, in real call order, on one thread: no synchronisation inside.
// Aggregates go to the shared SiteTable.
//
// Exactness: with ordered events, live bytes/blocks are exact. What cannot be
// matched is counted rather than guessed at: frees of blocks allocated before
// tracing began, and an allocation at an address that is still live (a free
// we never saw). Frees of blocks the tracer itself allocated are recognised.
#pragma once

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "src/capture/compiler.h"
#include "src/capture/sampler.h"
#include "src/capture/stack_depot.h"
#include "src/flush/live_table.h"
#include "src/flush/site_table.h"
#include "src/flush/thread_table.h"

namespace memtrace {

struct HeapCounters {
  uint64_t unmatched_frees = 0;  // free of an address we never saw allocated
  uint64_t replaced_blocks = 0;  // alloc at a still-live address
  uint64_t tracer_frees = 0;     // frees of blocks the tracer itself allocated
};

class HeapTable {
 public:
  HeapTable(SiteTable* sites, ThreadTable* threads) : sites_(sites), threads_(threads) {}
  // Inline: the flusher runs these once per heap event.
  MT_ALWAYS_INLINE void OnAlloc(uint64_t addr, uint64_t size, const StackRecord* stack, uint32_t thread,
                                Space space = Space::kHeap, int device = -1) {
    if (sample_period_ != 0) size = EstimatedBytes(size, sample_period_);
    uint32_t site = sites_->SiteFor(stack, space, device);
    uint32_t bit = TracerBit(addr);
    if (MT_UNLIKELY((tracer_filter_[bit / 64] >> (bit % 64)) & 1)) tracer_blocks_.erase(addr);  // freed unseen, reused
    auto [block, inserted] = live_.Insert(addr, LiveBlock{size, site, thread});
    if (MT_UNLIKELY(!inserted)) {
      // A free we never saw (a path that bypasses the hooks): retire the old
      // block so the totals stay consistent, and count it.
      ++counters_.replaced_blocks;
      Retire(*block);
      *block = LiveBlock{size, site, thread};
    }
    sites_->OnAlloc(site, size);
    threads_->Account(thread, static_cast<int64_t>(size), 1, size);
  }
  // An allocation whose free is the very next event in the merged order (a
  // temporary): the totals of OnAlloc then OnFree, without entering the
  // block in the live table. Exact: no event, hence no snapshot, lies
  // between the two. Returns false, having done nothing, when the address
  // needs OnAlloc's checks (it is still live, or was a tracer block).
  MT_ALWAYS_INLINE bool OnAllocFreed(uint64_t addr, uint64_t size, const StackRecord* stack, uint32_t thread) {
    uint32_t bit = TracerBit(addr);
    if (MT_UNLIKELY((tracer_filter_[bit / 64] >> (bit % 64)) & 1) || live_.Find(addr) != nullptr) return false;
    if (sample_period_ != 0) size = EstimatedBytes(size, sample_period_);
    uint32_t site = sites_->SiteFor(stack, Space::kHeap, -1);
    sites_->OnAllocFreed(site, size);
    threads_->Account(thread, 0, 0, size);
    return true;
  }
  MT_ALWAYS_INLINE void OnFree(uint64_t addr) {
    LiveBlock b;
    if (MT_UNLIKELY(!live_.Erase(addr, &b))) {
      OnUnmatchedFree(addr);
      return;
    }
    Retire(b);
  }
  // A block allocated by tracer code (see EventKind::kTracerAlloc), or by the
  // runtime's own start-up (start_info.h); `size` as asked, or 0: not to be
  // read as a root by the leak scan.
  void OnTracerAlloc(uint64_t addr, uint64_t size);
  // Those blocks still live: address -> size. The program's memory, not its
  // data: the leak scan reads them as roots.
  const absl::flat_hash_map<uint64_t, uint64_t>& tracer_blocks() const { return tracer_blocks_; }
  // Sampling mode: each allocation is a sample standing for more bytes
  // (sampler.h); live bytes become estimates, live blocks count samples.
  void set_sample_period(uint64_t period) { sample_period_ = period; }

  const HeapCounters& counters() const { return counters_; }
  const LiveTable& live() const { return live_; }
  // What the live-block table occupies.
  uint64_t table_bytes() const { return live_.bytes(); }

 private:
  // A block leaves the totals of its site and thread.
  void Retire(const LiveBlock& b) {
    sites_->OnFree(b.site, b.size);
    threads_->Account(b.thread, -static_cast<int64_t>(b.size), -1, 0);
  }
  // A free of an address not live: a tracer block, or one we never saw.
  void OnUnmatchedFree(uint64_t addr);

  SiteTable* sites_;
  ThreadTable* threads_;
  LiveTable live_;
  absl::flat_hash_map<uint64_t, uint64_t> tracer_blocks_;
  // A bit per hash of every address put in tracer_blocks_ (never cleared):
  // lets OnAlloc skip the set for nearly every address.
  static constexpr uint32_t kTracerFilterBits = 4096;
  static uint32_t TracerBit(uint64_t addr) { return static_cast<uint32_t>((addr * 0x9e3779b97f4a7c15ull) >> 52); }
  uint64_t tracer_filter_[kTracerFilterBits / 64] = {};
  HeapCounters counters_;
  uint64_t sample_period_ = 0;
};

}  // namespace memtrace
