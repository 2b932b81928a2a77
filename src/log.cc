// Implementation of the internal logger (see log.h): vsnprintf into a stack
// buffer and one write(2). glibc's vsnprintf does not allocate for the
// conversions we use (%s %d %u %zu %lu %llu %x %p).
#include "src/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace memtrace {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
}  // namespace

void SetLogLevel(LogLevel level) noexcept { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel GetLogLevel() noexcept { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void Log(LogLevel level, const char* fmt, ...) noexcept {
  if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
  char buf[512];
  static constexpr char kPrefix[] = "memtrace: ";
  size_t n = sizeof(kPrefix) - 1;
  __builtin_memcpy(buf, kPrefix, n);
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
  va_end(ap);
  if (w < 0) w = 0;
  n += static_cast<size_t>(w) < sizeof(buf) - n - 1 ? static_cast<size_t>(w) : sizeof(buf) - n - 2;
  buf[n++] = '\n';
  // A raw system call: glibc's write() is a cancellation point, and this may
  // run inside a hook.
  size_t off = 0;
  while (off < n) {
    long r = syscall(SYS_write, STDERR_FILENO, buf + off, n - off);
    if (r <= 0) break;
    off += static_cast<size_t>(r);
  }
}

}  // namespace memtrace
