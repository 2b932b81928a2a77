// mmap-backed memory for the tracer's own structures (see os_memory.h).
#include "src/capture/os_memory.h"

#include <sys/mman.h>

namespace memtrace {
namespace {
std::atomic<uint64_t> g_mapped{0};
}  // namespace

void* OsAllocate(size_t bytes) noexcept {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  g_mapped.fetch_add(bytes, std::memory_order_relaxed);
  return p;
}

void OsFree(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  munmap(p, bytes);
  g_mapped.fetch_sub(bytes, std::memory_order_relaxed);
}

uint64_t OsMappedBytes() noexcept { return g_mapped.load(std::memory_order_relaxed); }

}  // namespace memtrace
