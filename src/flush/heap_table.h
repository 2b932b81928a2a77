// The flusher's view of the heap: every live block (address -> size, site,
// thread, birth time) and, per allocation site, the aggregates the reports
// print. Fed only by the merger, in real call order, on one thread: no
// synchronisation inside.
//
// Exactness: with ordered events, live bytes/blocks are exact. Two kinds of
// event cannot be matched and are counted rather than guessed at: frees of
// blocks allocated before tracing began (or by the tracer), and an
// allocation at an address that is still live (a free we never saw).
#ifndef MEMTRACE_SRC_FLUSH_HEAP_TABLE_H_
#define MEMTRACE_SRC_FLUSH_HEAP_TABLE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "src/capture/stack_depot.h"

namespace memtrace {

struct SiteStats {
  uint64_t live_bytes = 0;
  uint64_t live_blocks = 0;
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t alloc_bytes = 0;
  uint64_t peak_live_bytes = 0;
};

struct HeapTotals {
  uint64_t live_bytes = 0;
  uint64_t live_blocks = 0;
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t alloc_bytes = 0;
  uint64_t peak_live_bytes = 0;
  uint64_t unmatched_frees = 0;   // free of an address we never saw allocated
  uint64_t replaced_blocks = 0;   // alloc at a still-live address
  uint64_t tracer_frees = 0;      // frees of blocks the tracer itself allocated
};

struct LiveBlock {
  uint64_t size;
  uint32_t site;    // index into sites()
  uint32_t thread;  // index into the thread table
  uint64_t birth_ts;
};

class HeapTable {
 public:
  HeapTable();
  void OnAlloc(uint64_t addr, uint64_t size, const StackRecord* stack, uint32_t thread, uint64_t ts);
  void OnFree(uint64_t addr);
  // A block allocated by tracer code (see EventKind::kTracerAlloc).
  void OnTracerAlloc(uint64_t addr);

  const HeapTotals& totals() const { return totals_; }
  // Site i aggregates the allocations made with stack_of(i). Site 0 is the
  // site of allocations whose stack could not be captured.
  size_t site_count() const { return sites_.size(); }
  const SiteStats& site(size_t i) const { return sites_[i]; }
  const StackRecord* stack_of(size_t i) const { return stacks_[i]; }
  const absl::flat_hash_map<uint64_t, LiveBlock>& live() const { return live_; }
  // Bytes this table holds (for the tracer's overhead line).
  uint64_t MemoryBytes() const;

 private:
  uint32_t SiteFor(const StackRecord* stack);

  absl::flat_hash_map<uint64_t, LiveBlock> live_;
  absl::flat_hash_set<uint64_t> tracer_blocks_;
  std::vector<SiteStats> sites_;
  std::vector<const StackRecord*> stacks_;
  std::vector<uint32_t> site_by_stack_id_;  // stack id -> site + 1 (0: none yet)
  HeapTotals totals_;
};

}  // namespace memtrace

#endif  // MEMTRACE_SRC_FLUSH_HEAP_TABLE_H_
