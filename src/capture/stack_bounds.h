// The calling thread's stack bounds, for the unwinders: every stack word a
// walk reads lies in [lo, hi), which is known to be mapped and readable.
//
// Why not pthread_getattr_np: glibc's takes the thread's lock and mallocs
// (its CPU-set copy) while holding it. Programs call it themselves (every
// Rust thread at start, the JVM for each of its threads); when the malloc
// inside it is the thread's first traced allocation, the hook unwinds, and an
// unwinder that asks pthread_getattr_np for the bounds takes the same lock
// again: the thread deadlocks on itself (issue 13). So the bounds come from
// places that need no glibc call at all:
//
//  - threads started through our pthread_create hook: the trampoline records
//    them before any of the program's code runs (RecordThreadStack), from the
//    size the creator asked for (or the stack it supplied) and the new
//    thread's descriptor, which glibc places at the top of the stack block;
//  - the main thread: the kernel's [stack] mapping holding __libc_stack_end,
//    read from /proc/self/maps once, in the library constructor
//    (InitStackBounds); a frame inside it is on the main thread's stack
//    whichever thread asks;
//  - any other thread (started before the tracer, or by a raw clone) has no
//    bounds: the CFI walk declines it and the fallback unwinder takes over.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memtrace {

struct StackRange {
  uintptr_t lo = 0, hi = 0;
  bool Contains(uintptr_t a) const noexcept { return a >= lo && a < hi; }
};

// Finds the main thread's stack. Once, at start-up, outside any hook.
void InitStackBounds() noexcept;
// The main thread's stack range (empty if it could not be found).
StackRange MainStack() noexcept;

// In a new thread, before the program's code: records its stack from what the
// creator knew. `user_lo`/`size`: the stack the program supplied
// (pthread_attr_setstack), or user_lo == 0 and the stack size glibc was asked
// for (attribute or default). `here` is an address in the caller's frame, used
// to check the result. No allocation, no lock.
void RecordThreadStack(uintptr_t user_lo, size_t size, uintptr_t here) noexcept;

// Derived from the thread descriptor `tp` (pthread_self(): glibc keeps it at
// the top of the stack block, static TLS below it) and the requested size;
// exposed for tests. Empty when `here` is not inside the result.
StackRange StackFromDescriptor(uintptr_t tp, uintptr_t user_lo, size_t size, uintptr_t here) noexcept;

// The bounds for a walk starting at `fp0` on the calling thread: its recorded
// range, or the main stack when fp0 lies in it. Empty: unknown (fall back).
StackRange CurrentStack(uintptr_t fp0) noexcept;

}  // namespace memtrace
