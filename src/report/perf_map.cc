// Perf map files (see perf_map.h).
#include "src/report/perf_map.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace memtrace {

bool PerfMap::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  Parse(text.str());
  return true;
}

void PerfMap::Parse(absl::string_view text) {
  uint32_t order = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (f.size() != 3) continue;
    absl::string_view start = f[0], size = f[1];
    absl::ConsumePrefix(&start, "0x");
    absl::ConsumePrefix(&size, "0x");
    Entry e;
    if (!absl::SimpleHexAtoi(start, &e.start) || !absl::SimpleHexAtoi(size, &e.size) || e.size == 0) continue;
    e.name = std::string(absl::StripTrailingAsciiWhitespace(f[2]));
    e.order = ++order;
    max_size_ = std::max(max_size_, e.size);
    entries_.push_back(std::move(e));
  }
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.start < b.start; });
}

const PerfMap::Entry* PerfMap::Find(uint64_t addr) const {
  // Entries that can hold addr start in (addr - max_size_, addr].
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.start; });
  const Entry* best = nullptr;
  while (it != entries_.begin()) {
    --it;
    if (addr - it->start >= max_size_) break;
    if (addr - it->start < it->size && (best == nullptr || it->order > best->order)) best = &*it;
  }
  return best;
}

}  // namespace memtrace
