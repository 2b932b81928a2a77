// The gate's rule (see gate.h).
#include "src/scan/gate.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace memtrace::scan {
namespace {
constexpr LeakKind kGravity[] = {LeakKind::kDefinite, LeakKind::kIndirect, LeakKind::kPossible, LeakKind::kReachable};

const char* Phrase(LeakKind k) {
  switch (k) {
    case LeakKind::kDefinite: return "definitely lost";
    case LeakKind::kIndirect: return "indirectly lost";
    case LeakKind::kPossible: return "possibly lost";
    case LeakKind::kReachable: return "still reachable";
  }
  return "?";
}
}  // namespace

std::string LeakKindsString(uint32_t kinds) {
  std::vector<std::string> names;
  for (LeakKind k : kGravity) {
    if (kinds & KindBit(k)) names.push_back(LeakKindName(k));
  }
  return names.empty() ? "none" : absl::StrJoin(names, ",");
}

GateVerdict DecideGate(const LeakTotals& totals, const GateConfig& config) {
  GateVerdict v;
  std::vector<std::string> parts;
  for (LeakKind k : kGravity) {
    if (!(config.kinds & KindBit(k))) continue;
    uint64_t bytes = 0, blocks = 0;
    for (const auto& space : totals.by_space) {
      bytes += space[static_cast<int>(k)].bytes;
      blocks += space[static_cast<int>(k)].blocks;
    }
    v.bytes += bytes;
    v.blocks += blocks;
    parts.push_back(absl::StrCat(bytes, " bytes ", Phrase(k)));
  }
  std::string what = absl::StrCat(parts.empty() ? "nothing" : absl::StrJoin(parts, " + "),
                                  " in the heap and tracked mappings (MEMTRACE_LEAK_KINDS=", LeakKindsString(config.kinds),
                                  ")");
  if (totals.suppressed.blocks) absl::StrAppend(&what, ", ", totals.suppressed.bytes, " bytes suppressed");
  if (!config.exit_code) {
    v.line = absl::StrCat("memtrace: ", what);
    return v;
  }
  v.fire = v.bytes > config.threshold;
  if (v.fire) {
    v.line = absl::StrCat("memtrace: ", what, " exceed MEMTRACE_LEAK_THRESHOLD=", config.threshold, "; exit status ",
                          *config.exit_code);
  } else {
    v.line = absl::StrCat("memtrace: ", what, " within MEMTRACE_LEAK_THRESHOLD=", config.threshold,
                          "; exit status kept");
  }
  return v;
}

}  // namespace memtrace::scan
