// Option parsing for the memtrace command (see args.h).
#include "src/cli/args.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/config/config.h"
#include "src/report/render.h"

namespace memtrace::cli {

absl::StatusOr<Args> Args::Parse(const std::string& command, const std::vector<std::string>& argv,
                                 std::span<const OptionSpec> specs, bool stop_at_positional) {
  Args a;
  a.command_ = command;
  auto usage_error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(command, ": ", what, " (see memtrace ", command, " --help)"));
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word == "--") {
      a.positional_.insert(a.positional_.end(), argv.begin() + static_cast<std::ptrdiff_t>(i) + 1, argv.end());
      break;
    }
    if (word == "-h" || word == "--help") {
      a.help_ = true;
      continue;
    }
    if (word.size() < 2 || word[0] != '-') {
      if (stop_at_positional) {
        a.positional_.insert(a.positional_.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
        break;
      }
      a.positional_.push_back(word);
      continue;
    }
    std::string name = word, value;
    bool inline_value = false;
    if (size_t eq = word.find('='); eq != std::string::npos && absl::StartsWith(word, "--")) {
      name = word.substr(0, eq);
      value = word.substr(eq + 1);
      inline_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& s : specs) {
      if (name == s.name) spec = &s;
    }
    if (spec == nullptr) return usage_error(absl::StrCat("unknown option ", Printable(name)));
    if (spec->value_name == nullptr) {
      if (inline_value) return usage_error(absl::StrCat(name, " takes no value"));
    } else if (!inline_value) {
      if (i + 1 >= argv.size()) return usage_error(absl::StrCat(name, " needs a value (", name, " ", spec->value_name, ")"));
      value = argv[++i];
    }
    a.values_.emplace_back(name, value);
  }
  return a;
}

bool Args::Has(const char* name) const {
  for (const auto& [k, v] : values_) {
    if (k == name) return true;
  }
  return false;
}

std::optional<std::string> Args::Value(const char* name) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : values_) {
    if (k == name) out = v;
  }
  return out;
}

absl::StatusOr<int64_t> Args::Int(const char* name, int64_t lo, int64_t hi, int64_t fallback) const {
  std::optional<std::string> v = Value(name);
  if (!v) return fallback;
  int64_t n = 0;
  if (!absl::SimpleAtoi(*v, &n) || n < lo || n > hi) {
    return absl::InvalidArgumentError(absl::StrCat(command_, ": bad value '", Printable(*v), "' for ", name,
                                                   ": expected a whole number from ", lo, " to ", hi));
  }
  return n;
}

absl::StatusOr<uint64_t> Args::ByteSize(const char* name, uint64_t fallback) const {
  std::optional<std::string> v = Value(name);
  if (!v) return fallback;
  std::optional<uint64_t> n = ParseByteSize(*v);
  if (!n) {
    return absl::InvalidArgumentError(absl::StrCat(command_, ": bad value '", Printable(*v), "' for ", name,
                                                   ": expected a size such as 4096, 64k or 16MiB"));
  }
  return *n;
}

}  // namespace memtrace::cli
