// The CI gate's rule: from the classified totals and the configuration to
// the verdict, and the one line that says what was counted. Pure: the caller
// (the exit report) prints the line and exits with the code.
//
// Counted: the kinds in MEMTRACE_LEAK_KINDS (default definite + indirect, as
// LeakSanitizer fails on), in the heap and tracked mappings only (CUDA
// memory, and memory the program got around the hooks, are never counted),
// less what suppressions matched. It fires when that exceeds
// MEMTRACE_LEAK_THRESHOLD.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "src/scan/scan_types.h"

namespace memtrace::scan {

// Bits of Config::leak_kinds: 1 << LeakKind.
inline constexpr uint32_t KindBit(LeakKind k) { return 1u << static_cast<int>(k); }

struct LeakTotals {
  // [space][kind], after suppressions (scan_types.h: ScanResult::totals).
  std::array<std::array<KindTotals, kLeakKinds>, 2> by_space{};
  KindTotals suppressed;
};

struct GateConfig {
  std::optional<int> exit_code;  // MEMTRACE_LEAK_EXIT_CODE; unset: never fires
  uint64_t threshold = 0;        // MEMTRACE_LEAK_THRESHOLD, bytes
  uint32_t kinds = KindBit(LeakKind::kDefinite) | KindBit(LeakKind::kIndirect);  // MEMTRACE_LEAK_KINDS
};

struct GateVerdict {
  bool fire = false;
  uint64_t bytes = 0;   // counted
  uint64_t blocks = 0;
  std::string line;     // "memtrace: ..." without a newline
};

GateVerdict DecideGate(const LeakTotals& totals, const GateConfig& config);

// "definite,indirect" for a kinds mask (in memcheck's order of gravity).
std::string LeakKindsString(uint32_t kinds);

}  // namespace memtrace::scan
