// The shared region (see region.h).
#include "src/capture/region.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <new>

#include "src/capture/os_memory.h"

namespace memtrace {
namespace {

constexpr size_t kDefaultBytes = size_t{16} << 30;
constexpr size_t kMinBytes = size_t{64} << 20;
constexpr size_t kPage = 4096;

long RawMmap(void* addr, size_t len, int prot, int flags) noexcept {
  return syscall(SYS_mmap, addr, len, prot, flags, -1, 0);
}

bool Failed(long r) noexcept { return r < 0 && r > -4096; }

}  // namespace

bool Region::MapAt(void* hint, size_t bytes, bool fixed) noexcept {
  int flags = MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE | (fixed ? MAP_FIXED : 0);
  long r = RawMmap(hint, bytes, PROT_READ | PROT_WRITE, flags);
  if (Failed(r)) return false;
  base_ = static_cast<uintptr_t>(r);
  size_ = bytes;
  // Never in the program's core dumps: they would carry (and walk) the whole
  // reserved range.
  syscall(SYS_madvise, reinterpret_cast<void*>(base_), size_, MADV_DONTDUMP);
  return true;
}

void Region::InitHeader(int pid, int parent_pid) noexcept {
  RegionHeader* h = new (header()) RegionHeader();
  h->magic = kRegionMagic;
  h->version = kRegionVersion;
  h->pid = pid;
  h->parent_pid = parent_pid;
  h->forked = parent_pid != 0 ? 1 : 0;
  h->base = base_;
  h->size = size_;
  h->used.store((sizeof(RegionHeader) + kPage - 1) & ~(kPage - 1), std::memory_order_relaxed);
  h->clock_counter.store(1, std::memory_order_relaxed);
}

bool Region::Create(size_t bytes, int pid) noexcept {
  if (bytes == 0) bytes = kDefaultBytes;
  // The reservation counts against RLIMIT_AS (here and in the watcher): take
  // at most an eighth of a finite limit.
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur / 8 < bytes) {
    bytes = static_cast<size_t>(as.rlim_cur / 8) & ~(kPage - 1);
  }
  for (; bytes >= kMinBytes; bytes /= 2) {
    if (MapAt(nullptr, bytes, false)) {
      InitHeader(pid, 0);
      return true;
    }
  }
  return false;
}

bool Region::RecreateInChild(int pid, int parent_pid) noexcept {
  if (base_ == 0) return false;
  // A new shared object over the same range: every pointer into the region
  // stays an address in it, and now means the child's own, empty state.
  if (!MapAt(reinterpret_cast<void*>(base_), size_, true)) {
    base_ = 0;
    size_ = 0;
    return false;
  }
  InitHeader(pid, parent_pid);
  return true;
}

void* Region::Allocate(size_t bytes, size_t align) noexcept {
  RegionHeader* h = header();
  if (h == nullptr || bytes == 0) return nullptr;
  uint64_t off = h->used.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t start = (off + align - 1) & ~static_cast<uint64_t>(align - 1);
    uint64_t end = start + bytes;
    if (end > size_) {
      h->exhausted.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    if (h->used.compare_exchange_weak(off, end, std::memory_order_relaxed)) {
      return reinterpret_cast<void*>(base_ + start);
    }
  }
}

bool Region::Decommit(void* p, size_t bytes) noexcept {
  if (p == nullptr || bytes == 0) return false;
  // MADV_REMOVE frees the shared pages themselves (MADV_DONTNEED would only
  // drop this process's view of them).
  if (syscall(SYS_madvise, p, bytes, MADV_REMOVE) != 0) return false;
  header()->decommitted.fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

void Region::Recommitted(size_t bytes) noexcept { header()->decommitted.fetch_sub(bytes, std::memory_order_relaxed); }

uint64_t Region::CommittedBytes() const noexcept {
  const RegionHeader* h = header();
  if (h == nullptr) return 0;
  return h->used.load(std::memory_order_relaxed) - h->decommitted.load(std::memory_order_relaxed);
}

void* SharedAllocate(size_t bytes) noexcept {
  if (g_region.active()) return g_region.Allocate((bytes + kPage - 1) & ~(kPage - 1), kPage);
  return OsAllocate(bytes);
}

bool SharedDecommit(void* p, size_t bytes) noexcept {
  if (g_region.active() && g_region.Contains(p)) return g_region.Decommit(p, bytes);
  return OsDecommit(p, bytes);
}

void SharedRecommitted(void* p, size_t bytes) noexcept {
  if (g_region.active() && g_region.Contains(p)) g_region.Recommitted(bytes);
  else OsRecommitted(bytes);
}

}  // namespace memtrace
