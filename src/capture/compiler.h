// Small compiler helpers shared by the hot path.
#ifndef MEMTRACE_SRC_CAPTURE_COMPILER_H_
#define MEMTRACE_SRC_CAPTURE_COMPILER_H_

#define MEMTRACE_LIKELY(x) __builtin_expect(!!(x), 1)
#define MEMTRACE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MEMTRACE_NOINLINE __attribute__((noinline))
#define MEMTRACE_ALWAYS_INLINE inline __attribute__((always_inline))
// Initial-exec TLS: a fixed offset from the thread pointer, no __tls_get_addr
// call (which may allocate) and no lazy TLS init. Fine for a preloaded
// library, which is loaded at start-up with the static TLS block.
#define MEMTRACE_TLS_IE __attribute__((tls_model("initial-exec")))

#endif  // MEMTRACE_SRC_CAPTURE_COMPILER_H_
