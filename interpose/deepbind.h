// Libraries opened with RTLD_DEEPBIND.
//
// Such a library looks its symbols up in itself and its own dependencies
// first, so its calls to malloc, free, operator new, mmap, pthread_create
// bind to libc's (or libstdc++'s) definitions directly and never reach our
// hooks: its allocations would be missing, and its frees of blocks the
// program allocated through us would look like leaks. So when the program
// opens one, libmemtrace
//  - says so at once, in one line on stderr, and in every report
//    (`tracer.deepbind`);
//  - once the dlopen has returned, points the library's relocations of our
//    hooks' symbols (PLT slots, GOT entries, data words) that bypass us at
//    our hooks instead: only those whose target is the very definition we
//    forward to (a library that brings its own malloc keeps it).
// "Once dlopen has returned" is the next call the program makes to dlsym,
// dlopen, dlclose or pthread_create (our dlopen must stay a tail jump:
// glibc takes the caller from its return address), which is how a program
// reaches a library it opened. The library's constructors run inside dlopen,
// before that: what they allocate is not seen (the line says so).
#pragma once

#include <atomic>
#include <cstdint>

namespace memtrace {

// Before the real dlopen of `file` with RTLD_DEEPBIND (a program call).
void DeepbindBeforeDlopen(const char* file) noexcept;
// Patches what pending RTLD_DEEPBIND dlopens loaded. Cheap when none is.
void DeepbindCatchUpSlow() noexcept;
inline std::atomic<uint32_t> g_deepbind_pending{0};
inline void DeepbindCatchUp() noexcept {
  if (g_deepbind_pending.load(std::memory_order_acquire) != 0) DeepbindCatchUpSlow();
}

}  // namespace memtrace
