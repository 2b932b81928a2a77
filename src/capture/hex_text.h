// Reading hexadecimal numbers out of kernel text (/proc/PID/maps and
// friends) without allocation, locale or errno: safe in hooks, the
// start-up path and the watcher alike.
#pragma once

#include <cstdint>

namespace memtrace {

// The lowercase hex digits at `p` (up to `end`) as a number; `p` is left at
// the first byte that is not one. No digit: 0, `p` unchanged.
inline uint64_t ParseHexPrefix(const char*& p, const char* end) noexcept {
  uint64_t v = 0;
  for (; p < end; ++p) {
    char c = *p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

}  // namespace memtrace
