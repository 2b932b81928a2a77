// Fuzz target: the MEMTRACE_* configuration (ParseConfig and the value
// parsers it uses) and the MEMTRACE_OUTPUT name pattern. The environment is
// the caller's: any bytes. Input: NUL-separated "NAME=VALUE" entries; an
// entry whose first byte is below 0x20 names a known variable by index
// instead (so the fuzzer reaches every variable without guessing names).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "src/config/config.h"
#include "src/report/output.h"

namespace {

const char* const kNames[] = {
    "MEMTRACE_OUTPUT", "MEMTRACE_FORMAT", "MEMTRACE_TOP", "MEMTRACE_MAX_FRAMES", "MEMTRACE_LEAK_EXIT_CODE",
    "MEMTRACE_LEAK_THRESHOLD", "MEMTRACE_LOG", "MEMTRACE_CLOCK", "MEMTRACE_ENABLE", "MEMTRACE_SITES",
    "MEMTRACE_TRACK_MMAP", "MEMTRACE_SIGNAL", "MEMTRACE_INTERVAL", "MEMTRACE_KEEP", "MEMTRACE_SAMPLE_PERIOD",
    "MEMTRACE_CONTROL_DIR", "MEMTRACE_CUDA", "MEMTRACE_SAMPLE_BYTES", "MEMTRACE_UNWIND", "MEMTRACE_CUPTI_PATH",
    "MEMTRACE_LIBC_LINES", "MEMTRACE_MAX_SITES", "MEMTRACE_LEAK_KINDS", "MEMTRACE_SUPPRESSIONS",
    "MEMTRACE_DEFAULT_SUPPRESSIONS", "MEMTRACE_INTERVAL_LEAKS"};
constexpr size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> env;
  while (!in.empty()) {
    size_t end = in.find('\0');
    std::string_view entry = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view() : in.substr(end + 1);
    if (entry.empty()) continue;
    if (static_cast<unsigned char>(entry[0]) < 0x20) {
      env[kNames[static_cast<unsigned char>(entry[0]) % kNameCount]] = std::string(entry.substr(1));
    } else if (size_t eq = entry.find('='); eq != std::string_view::npos) {
      env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
    }
  }
  memtrace::ParsedConfig parsed = memtrace::ParseConfig([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  // Each error is one printable line: it goes to the program's stderr.
  for (const std::string& e : parsed.errors) {
    for (char c : e) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
    }
  }
  const memtrace::Config& c = parsed.config;
  if (c.max_frames < 1 || c.max_frames > memtrace::kMaxFramesLimit || c.keep < 1 || c.top < 0) __builtin_trap();
  if (c.interval_ns != 0 && c.interval_ns < 10000000) __builtin_trap();
  // The output pattern as the writer expands it.
  for (const auto& [name, value] : env) {
    std::string a = memtrace::ExpandOutputPath(value, 12345, 7, false);
    std::string b = memtrace::ExpandOutputPath(value, 12345, 7, true);
    if (b.size() < a.size()) __builtin_trap();
    memtrace::PatternHasSequence(value);
    memtrace::FormatForPath(value, memtrace::ReportFormat::kText);
    memtrace::ParseByteSize(value);
    memtrace::ParseDuration(value);
    memtrace::ParseSignal(value);
    memtrace::ParseLeakKinds(value);
  }
  return 0;
}
