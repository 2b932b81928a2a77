// Live heap blocks (see heap_table.h): the rare paths.
#include "src/flush/heap_table.h"
#include "src/log.h"

namespace memtrace {

void HeapTable::OnUnmatchedFree(uint64_t addr) {
  if (tracer_blocks_.erase(addr) > 0) ++counters_.tracer_frees;
  else { ++counters_.unmatched_frees; MT_LOG_DEBUG("unmatched free %llx", (unsigned long long)addr); }
}

void HeapTable::OnTracerAlloc(uint64_t addr, uint64_t size) {
  LiveBlock b;
  if (live_.Erase(addr, &b)) {  // the newer owner wins
    ++counters_.replaced_blocks;
    Retire(b);
  }
  tracer_blocks_[addr] = size;
  uint32_t bit = TracerBit(addr);
  tracer_filter_[bit / 64] |= uint64_t{1} << (bit % 64);
}

}  // namespace memtrace
