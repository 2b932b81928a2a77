// Names for code that no ELF file describes (JIT compilers): the perf map
// convention, /tmp/perf-PID.map, one "START SIZE name" line (hex) per
// generated function, written by node --perf-basic-prof, the JVM's
// perf-map-agent, LuaJIT, PyPy, .NET and others. Read at report time; a later
// line for the same address wins (JITs reuse code memory).
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace memtrace {

class PerfMap {
 public:
  struct Entry {
    uint64_t start = 0, size = 0;
    std::string name;
    uint32_t order = 0;  // line number: later lines win
  };
  // Reads `path`; false if it cannot be read (an empty map then).
  bool Load(const std::string& path);
  // Parses the text of a perf map (malformed lines are skipped).
  void Parse(absl::string_view text);
  // The entry holding `addr`, or null.
  const Entry* Find(uint64_t addr) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;  // sorted by start
  uint64_t max_size_ = 0;
};

}  // namespace memtrace
