// Resolution of the real allocator and the bootstrap arena (see real.h).
#include "interpose/real.h"

#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include <cstring>
#include <string.h>

namespace memtrace::real {

Functions fn = {};
std::atomic<int> state{0};

// 1 MiB of .bss: only touched pages cost memory. Enough for dlsym's needs
// many times over; exhaustion returns NULL/ENOMEM like a full heap would.
alignas(4096) unsigned char g_arena[kArenaBytes];

namespace {

constexpr size_t kHeader = 16;
std::atomic<size_t> g_arena_used{0};

template <typename F>
void Lookup(F*& slot, const char* name) noexcept {
  slot = reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
}

// Fallbacks for allocators that lack the obsolete page-aligned calls.
void* ValloFallback(size_t n) noexcept { return fn.memalign(static_cast<size_t>(sysconf(_SC_PAGESIZE)), n); }
void* PvallocFallback(size_t n) noexcept {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t rounded = (n + page - 1) & ~(page - 1);
  if (rounded < n) {
    errno = ENOMEM;
    return nullptr;
  }
  return fn.memalign(page, rounded == 0 ? page : rounded);
}

// libstdc++ and libc++ implement operator new/delete on malloc/free, called
// through their PLT, i.e. through our hooks.
bool IsCxxRuntime(void* fn) noexcept {
  Dl_info info;
  if (dladdr(fn, &info) == 0 || info.dli_fname == nullptr) return false;
  const char* base = strrchr(info.dli_fname, '/');
  base = base != nullptr ? base + 1 : info.dli_fname;
  return strncmp(base, "libstdc++.so", 12) == 0 || strncmp(base, "libc++.so", 9) == 0;
}

bool IsAligned(const char* mangled) noexcept { return strstr(mangled, "align_val_t") != nullptr; }

}  // namespace

bool Resolve() noexcept {
  int expected = 0;
  if (!state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    return expected == 2;  // resolving elsewhere (or re-entered from dlsym): use the arena
  }
  Functions f = {};
  Lookup(f.malloc, "malloc");
  Lookup(f.free, "free");
  Lookup(f.calloc, "calloc");
  Lookup(f.realloc, "realloc");
  Lookup(f.memalign, "memalign");
  Lookup(f.posix_memalign, "posix_memalign");
  Lookup(f.aligned_alloc, "aligned_alloc");
  Lookup(f.valloc, "valloc");
  Lookup(f.pvalloc, "pvalloc");
  Lookup(f.malloc_usable_size, "malloc_usable_size");
  Lookup(f.mmap, "mmap");
  Lookup(f.munmap, "munmap");
  Lookup(f.mremap, "mremap");
  Lookup(f.mprotect, "mprotect");
  // The aligned forms are recorded by the new hooks even for the C++
  // runtime: its aligned new rounds the size up to the alignment before it
  // calls aligned_alloc, and the report must say what the program asked for.
  for (int i = 0; i < 8; ++i) {
    f.op_new[i] = dlsym(RTLD_NEXT, kOpNewNames[i]);
    if (f.op_new[i] != nullptr && !IsAligned(kOpNewNames[i]) && IsCxxRuntime(f.op_new[i])) {
      f.cxx_via_malloc |= 1u << i;
    }
  }
  for (int i = 0; i < 12; ++i) {
    f.op_delete[i] = dlsym(RTLD_NEXT, kOpDeleteNames[i]);
    if (f.op_delete[i] != nullptr && !IsAligned(kOpDeleteNames[i]) && IsCxxRuntime(f.op_delete[i])) {
      f.cxx_via_malloc |= 1u << (8 + i);
    }
  }
  if (f.malloc == nullptr || f.free == nullptr || f.calloc == nullptr || f.realloc == nullptr ||
      f.memalign == nullptr || f.mmap == nullptr || f.munmap == nullptr || f.mremap == nullptr ||
      f.mprotect == nullptr) {
    static const char kMsg[] = "memtrace: cannot find the real malloc; aborting\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    _exit(127);
  }
  for (void* op : f.op_new) {
    if (op == nullptr) {
      static const char kMsg[] = "memtrace: cannot find the real operator new; aborting\n";
      (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
      _exit(127);
    }
  }
  for (void* op : f.op_delete) {
    if (op == nullptr) {
      static const char kMsg[] = "memtrace: cannot find the real operator delete; aborting\n";
      (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
      _exit(127);
    }
  }
  // The C++ fast paths read only cxx_via_malloc (new_hooks.cc): it is
  // published last, after every pointer it vouches for.
  uint32_t via_malloc = f.cxx_via_malloc;
  f.cxx_via_malloc = 0;
  fn = f;
  __atomic_store_n(&fn.cxx_via_malloc, via_malloc, __ATOMIC_RELEASE);
  if (fn.valloc == nullptr) fn.valloc = &ValloFallback;
  if (fn.pvalloc == nullptr) fn.pvalloc = &PvallocFallback;
  state.store(2, std::memory_order_release);
  return true;
}

void* ArenaAlloc(size_t size, size_t align) noexcept {
  if (align < kHeader) align = kHeader;
  if (size > kArenaBytes) return nullptr;
  // Block layout: [padding][8-byte size][8 unused][payload aligned to align].
  size_t need = size + align + kHeader;
  size_t off = g_arena_used.fetch_add(need, std::memory_order_relaxed);
  if (off + need > kArenaBytes) return nullptr;
  uintptr_t base = reinterpret_cast<uintptr_t>(g_arena + off) + kHeader;
  uintptr_t payload = (base + align - 1) & ~(uintptr_t{align} - 1);
  std::memcpy(reinterpret_cast<void*>(payload - kHeader), &size, sizeof(size));
  return reinterpret_cast<void*>(payload);
}

size_t ArenaSize(const void* p) noexcept {
  size_t size;
  std::memcpy(&size, static_cast<const unsigned char*>(p) - kHeader, sizeof(size));
  return size;
}

}  // namespace memtrace::real
