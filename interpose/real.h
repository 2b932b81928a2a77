// The real allocator functions (the next definitions after ours, normally
// glibc's), and the bootstrap arena that serves allocations made while they
// are being looked up: dlsym itself may call malloc/calloc.
//
// Bootstrap invariant: a block from the arena is never handed to the real
// free or realloc; free() ignores it, realloc() copies out of it,
// malloc_usable_size() reads its header.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <dlfcn.h>
#include <sys/types.h>

#include "src/capture/compiler.h"

namespace memtrace::real {

// noexcept (C functions do not throw): a hook can then end in a tail jump to
// the real function instead of a call wrapped in terminate-on-throw.
struct Functions {
  void* (*malloc)(size_t) noexcept;
  void (*free)(void*) noexcept;
  void* (*calloc)(size_t, size_t) noexcept;
  void* (*realloc)(void*, size_t) noexcept;
  void* (*memalign)(size_t, size_t) noexcept;
  int (*posix_memalign)(void**, size_t, size_t) noexcept;
  void* (*aligned_alloc)(size_t, size_t) noexcept;
  void* (*valloc)(size_t) noexcept;
  void* (*pvalloc)(size_t) noexcept;
  size_t (*malloc_usable_size)(void*) noexcept;
  void* (*mmap)(void*, size_t, int, int, int, off_t) noexcept;
  int (*munmap)(void*, size_t) noexcept;
  void* (*mremap)(void*, size_t, size_t, int, ...) noexcept;
  int (*mprotect)(void*, size_t, int) noexcept;
  // The C++ allocation functions (interpose/new_hooks.cc), in NewFn order.
  void* op_new[8];
  void* op_delete[12];
  // Bit i (new) / 8 + i (delete): that real function is the C++ runtime's
  // (libstdc++, libc++), which allocates through malloc/free -- our hooks
  // already see it -- so the hook passes it straight on.
  uint32_t cxx_via_malloc;
};

// The C++ allocation functions, by mangled name, in Functions' order.
inline constexpr const char* kOpNewNames[8] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t"};
inline constexpr const char* kOpDeleteNames[12] = {
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_t",
    "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t"};

extern Functions fn;
extern std::atomic<int> state;  // 0 unresolved, 1 resolving, 2 ready

// Slow path of Ready(): resolves `fn` once.
bool Resolve() noexcept;

// Resolves `fn` if needed. False while resolution is under way (on this or
// another thread): the caller then serves the request from the arena.
MT_ALWAYS_INLINE bool Ready() noexcept {
  if (MT_LIKELY(state.load(std::memory_order_acquire) == 2)) return true;
  return Resolve();
}

// Bootstrap arena.
void* ArenaAlloc(size_t size, size_t align) noexcept;
inline constexpr size_t kArenaBytes = 1u << 20;
extern unsigned char g_arena[kArenaBytes] __attribute__((visibility("hidden")));
// Inline: every free asks.
inline bool ArenaOwns(const void* p) noexcept {
  return reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(g_arena) < kArenaBytes;
}
size_t ArenaSize(const void* p) noexcept;

// The next definition of `name` after ours (hooks outside the malloc family:
// exec, pthread_create/join), looked up once and cached in `slot`; threads
// that race store the same value.
template <typename F>
F* Next(std::atomic<F*>& slot, const char* name) noexcept {
  F* f = slot.load(std::memory_order_acquire);
  if (f == nullptr) {
    f = reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
    slot.store(f, std::memory_order_release);
  }
  return f;
}

}  // namespace memtrace::real
