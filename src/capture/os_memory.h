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
// Bytes currently mapped through OsAllocate.
uint64_t OsMappedBytes() noexcept;

// Heap bytes held by the tracer's own threads (counted by the hooks).
inline std::atomic<int64_t> g_internal_heap_bytes{0};

}  // namespace memtrace
