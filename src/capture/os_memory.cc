// mmap-backed memory for the tracer's own structures (see os_memory.h).
#include "src/capture/os_memory.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtrace {
namespace {
std::atomic<uint64_t> g_mapped{0};
std::atomic<uint64_t> g_decommitted{0};
struct RangeSlot {
  std::atomic<uintptr_t> start{0}, end{0};
};
RangeSlot g_ranges[kOsRangesKept];

void Remember(void* p, size_t bytes) noexcept {
  for (RangeSlot& r : g_ranges) {
    uintptr_t expected = 0;
    if (r.start.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(p), std::memory_order_acq_rel)) {
      r.end.store(reinterpret_cast<uintptr_t>(p) + bytes, std::memory_order_release);
      return;
    }
  }
}

void Forget(void* p) noexcept {
  for (RangeSlot& r : g_ranges) {
    if (r.start.load(std::memory_order_acquire) == reinterpret_cast<uintptr_t>(p)) {
      r.end.store(0, std::memory_order_release);
      r.start.store(0, std::memory_order_release);
      return;
    }
  }
}
}  // namespace

int OsRanges(OsRange* out) noexcept {
  int n = 0;
  for (RangeSlot& r : g_ranges) {
    uintptr_t start = r.start.load(std::memory_order_acquire), end = r.end.load(std::memory_order_acquire);
    if (start != 0 && end > start) out[n++] = OsRange{start, end};
  }
  return n;
}

// Raw system calls: the tracer's own mappings must never reach our mmap hook.
void* OsAllocate(size_t bytes) noexcept {
  long r = syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void* p = reinterpret_cast<void*>(r);
  if (r < 0 && r > -4096) return nullptr;
  g_mapped.fetch_add(bytes, std::memory_order_relaxed);
  Remember(p, bytes);
  return p;
}

void OsFree(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  Forget(p);
  syscall(SYS_munmap, p, bytes);
  g_mapped.fetch_sub(bytes, std::memory_order_relaxed);
}

bool OsDecommit(void* p, size_t bytes) noexcept {
  if (p == nullptr || syscall(SYS_madvise, p, bytes, MADV_DONTNEED) != 0) return false;
  g_decommitted.fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

void OsRecommitted(size_t bytes) noexcept { g_decommitted.fetch_sub(bytes, std::memory_order_relaxed); }

uint64_t OsCommittedBytes() noexcept {
  return g_mapped.load(std::memory_order_relaxed) - g_decommitted.load(std::memory_order_relaxed);
}

}  // namespace memtrace
