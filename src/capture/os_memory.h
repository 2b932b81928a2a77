// Memory the tracer takes for itself straight from the kernel (rings, the
// stack depot, the slot table): mmap'ed, never from malloc, so it can be used
// from inside a malloc hook. Every byte is counted for the report.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memtrace {

// Zero-filled, page-aligned; nullptr on failure.
void* OsAllocate(size_t bytes) noexcept;
void OsFree(void* p, size_t bytes) noexcept;
// Gives the pages of [p, p + bytes) (from OsAllocate, page-aligned) back to
// the kernel, keeping the mapping: they read as zero when touched again,
// and are not counted as the tracer's until OsRecommitted. False if the
// kernel refused (nothing changed).
bool OsDecommit(void* p, size_t bytes) noexcept;
// The decommitted range of `bytes` is in use again.
void OsRecommitted(size_t bytes) noexcept;
// Bytes mapped through OsAllocate and not decommitted: what the report calls
// the tracer's memory.
uint64_t OsCommittedBytes() noexcept;

// The ranges OsAllocate mapped (the first kOsRangesKept; later ones are not
// recorded): the tracer's own memory in the program, which a leak scan must
// neither count nor read as roots.
inline constexpr int kOsRangesKept = 64;
struct OsRange {
  uintptr_t start, end;
};
// Copies up to kOsRangesKept live ranges into `out`; returns how many.
int OsRanges(OsRange* out) noexcept;

// Heap bytes held by the tracer's own threads (counted by the hooks). On a
// cache line of its own: the flusher's allocations write it, and it must not
// share a line with the flags every hook reads.
struct alignas(64) InternalHeapBytes {
  std::atomic<int64_t> bytes{0};
};
inline InternalHeapBytes g_internal_heap_bytes;

}  // namespace memtrace
