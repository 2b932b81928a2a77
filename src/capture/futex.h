// Futex waits and wakes on words of the shared region: the one way the
// program and its watcher wake each other (no descriptor, and a wake is
// async-signal-safe). Shared futexes (not FUTEX_PRIVATE_FLAG): the two sides
// are different processes. Raw system calls: none of this may be a
// cancellation point or touch errno's users.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace memtrace {

// Sleeps while *word == expected, at most `timeout_ns` (a wake, a signal or
// a spurious return end it early).
inline void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns) noexcept {
  timespec ts{static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

inline void FutexWake(std::atomic<uint32_t>* word, int waiters = 1) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, waiters, nullptr, nullptr, 0);
}

}  // namespace memtrace
