// Command-line options for the memtrace command, the GNU way: `--opt value`
// and `--opt=value`, flags, `--` to end options, `-h`/`--help` anywhere
// before it, and for `run` the first non-option word starts the program's own
// command line (as heaptrack and `memray run` do), so `memtrace run ./prog -v`
// passes -v to the program. Every error names the option and the bad value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace memtrace::cli {

struct OptionSpec {
  const char* name;        // "--top"
  const char* value_name;  // "N" for an option with a value; nullptr for a flag
};

class Args {
 public:
  // `command`: for messages ("report"). `stop_at_positional`: the first
  // non-option word and everything after it are positional (memtrace run).
  static absl::StatusOr<Args> Parse(const std::string& command, const std::vector<std::string>& argv,
                                    std::span<const OptionSpec> specs, bool stop_at_positional);

  bool help() const { return help_; }
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const char* name) const;
  // The last value given for `name`, if any.
  std::optional<std::string> Value(const char* name) const;
  // An integer value in [lo, hi], or `fallback` when absent; a bad value is
  // an error naming the option.
  absl::StatusOr<int64_t> Int(const char* name, int64_t lo, int64_t hi, int64_t fallback) const;
  absl::StatusOr<uint64_t> ByteSize(const char* name, uint64_t fallback) const;

 private:
  std::string command_;
  bool help_ = false;
  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> values_;  // (option, value); flags have ""
};

}  // namespace memtrace::cli
