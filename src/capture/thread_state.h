// The calling thread's tracer state, in initial-exec TLS (no allocation, no
// lazy init: safe from the first malloc of a new thread).
//
// Re-entry invariant: `guard` is non-zero while this thread runs tracer code
// on behalf of a hook (unwinding, interning, registering), and permanently on
// the tracer's own threads. Any hook entered while it is set calls straight
// through to the real function and records nothing, so the tracer never
// traces itself and never recurses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/capture/compiler.h"

namespace memtrace {

struct ThreadSlot;

struct ThreadState {
  ThreadSlot* slot;   // this thread's ring, or null before its first event
  uint32_t guard;     // see above
  uint32_t internal;  // a tracer thread: its heap use is counted as ours
  uint32_t paused;    // non-zero: this thread's malloc-family allocations are not recorded
                      // (frees are): kPausedByUser, plus kPausedInNew per operator new in progress
  uint32_t serial;    // process-wide thread number, 0 before the first event; kept
                      // if the thread re-registers during its exit
  // Set by the pthread_create trampoline before the thread's first event.
  const struct ThreadBirth* birth;
  // Inside a CUDA runtime hook: driver calls it makes (seen by CUPTI) are
  // already counted at the runtime level.
  uint32_t in_cuda_runtime;
  // Sampling mode (sampler.h): bytes left before the next sample, and the
  // thread's random state (0 until its first allocation).
  int64_t sample_countdown;
  uint64_t sample_rng;
  // The thread's stack bounds for the unwinders (stack_bounds.h): recorded by
  // the pthread_create trampoline; 0 when unknown.
  uintptr_t stack_lo, stack_hi;
  // The timestamp of the last event this thread pushed: a lower bound for all
  // its later ones, published as its busy stamp (capture.h).
  uint64_t last_ts;
  // No slot was left for this thread: it stays untraced (counted once).
  uint32_t untraced;
  // Full stack walks since the thread took its slot (its memo is attached
  // after a few: thread_slots.h).
  uint32_t walks;
};

// Handed by our pthread_create hook to the new thread: what to run, and the
// serial its creator assigned it (the creator records the thread's origin).
struct ThreadBirth {
  void* (*routine)(void*);
  void* arg;
  uint32_t serial;
  // The stack the creator supplied (0 if none) and the stack size asked for:
  // the new thread's stack bounds (stack_bounds.h).
  uintptr_t stack_addr;
  size_t stack_size;
};

// ThreadState::paused. memtrace_pause() pauses allocations of every kind
// (heap, mappings, CUDA); frees, unmaps and protection changes are still
// recorded. An operator new in progress (interpose/new_hooks.cc) pauses the
// malloc family -- the allocation the real operator new makes inside is the
// one its hook records -- and every mapping call: what the program's
// allocator maps for itself there stays hidden, as it does inside malloc.
inline constexpr uint32_t kPausedByUser = 1;
inline constexpr uint32_t kPausedInNew = 2;

extern __thread ThreadState t_state MT_TLS_IE;

// While a program thread runs tracer code outside a hook (start-up, API
// calls, the exit path): nothing it allocates is the program's, and no hook
// re-enters. Restores what it found.
struct TracerCodeScope {
  uint32_t guard, internal;
  TracerCodeScope() noexcept : guard(t_state.guard), internal(t_state.internal) {
    t_state.guard = 1;
    t_state.internal = 1;
  }
  ~TracerCodeScope() {
    t_state.guard = guard;
    t_state.internal = internal;
  }
  TracerCodeScope(const TracerCodeScope&) = delete;
  TracerCodeScope& operator=(const TracerCodeScope&) = delete;
};

}  // namespace memtrace
