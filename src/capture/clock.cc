// Clock selection and timestamp-to-time conversion (see clock.h).
#include "src/capture/clock.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "src/config/config.h"

namespace memtrace {

void ClockUseCounter(std::atomic<uint64_t>* counter) noexcept {
  if (counter != nullptr) {
    // Never go back: the new counter starts past every stamp taken so far.
    uint64_t now = ClockCounter().load(std::memory_order_seq_cst);
    uint64_t cur = counter->load(std::memory_order_relaxed);
    while (cur < now && !counter->compare_exchange_weak(cur, now, std::memory_order_seq_cst)) {
    }
  }
  g_clock.counter.store(counter, std::memory_order_seq_cst);
}

uint64_t MonotonicNanos() noexcept {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

namespace {

uint64_t g_start_ts = 0;
uint64_t g_start_ns = 0;

// True when the kernel uses the TSC as its clocksource, i.e. it found the TSC
// invariant and synchronised across CPUs.
bool KernelTrustsTsc() noexcept {
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[32] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n >= 3 && std::strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

}  // namespace

ClockKind SelectClock(int requested) noexcept {
  ClockKind kind = ClockKind::kCounter;
#ifdef MT_HAVE_TSC
  auto mode = static_cast<ClockMode>(requested);
  if (mode == ClockMode::kTsc || (mode == ClockMode::kAuto && KernelTrustsTsc())) kind = ClockKind::kTsc;
#else
  (void)requested;
#endif
  g_clock.kind.store(static_cast<int>(kind), std::memory_order_relaxed);
  return kind;
}

void ClockMarkStart() noexcept {
  g_start_ts = ClockNow();
  g_start_ns = MonotonicNanos();
}

void ClockAdopt(int kind, std::atomic<uint64_t>* counter, uint64_t start_ts, uint64_t start_ns) noexcept {
  g_clock.kind.store(kind, std::memory_order_relaxed);
  g_clock.counter.store(counter, std::memory_order_seq_cst);
  g_start_ts = start_ts;
  g_start_ns = start_ns;
}

void ClockStart(uint64_t* start_ts, uint64_t* start_ns) noexcept {
  *start_ts = g_start_ts;
  *start_ns = g_start_ns;
}

uint64_t ClockToNanos(uint64_t ts) noexcept {
  if (g_clock.kind.load(std::memory_order_relaxed) != static_cast<int>(ClockKind::kTsc)) return 0;
  uint64_t now_ts = ClockNow();
  uint64_t now_ns = MonotonicNanos();
  if (now_ts <= g_start_ts || ts < g_start_ts) return 0;
  long double per_tick = static_cast<long double>(now_ns - g_start_ns) / static_cast<long double>(now_ts - g_start_ts);
  return static_cast<uint64_t>(static_cast<long double>(ts - g_start_ts) * per_tick);
}

}  // namespace memtrace
