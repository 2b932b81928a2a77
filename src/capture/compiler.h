// Small compiler helpers shared by the hot path.
#pragma once

#define MT_LIKELY(x) __builtin_expect(!!(x), 1)
#define MT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MT_NOINLINE __attribute__((noinline))
#define MT_ALWAYS_INLINE inline __attribute__((always_inline))
// Initial-exec TLS: a fixed offset from the thread pointer, no __tls_get_addr
// call (which may allocate) and no lazy TLS init. Fine for a preloaded
// library, which is loaded at start-up with the static TLS block.
#define MT_TLS_IE __attribute__((tls_model("initial-exec")))
