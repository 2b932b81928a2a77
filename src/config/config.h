// MEMTRACE_* configuration: parsed once, in the library constructor, into an
// immutable Config (some programs clear their environment later). A malformed
// value never stops the program: it yields one line naming the variable and
// the default used instead. Every variable is documented in docs/env.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/log.h"

namespace memtrace {

enum class ReportFormat { kText, kJson, kPprof, kFolded, kHtml };
enum class ClockMode { kAuto, kTsc, kCounter };

struct Config {
  std::string output;                 // MEMTRACE_OUTPUT; empty = stderr
  ReportFormat format = ReportFormat::kText;  // MEMTRACE_FORMAT / extension of the (first) output
  bool format_explicit = false;          // MEMTRACE_FORMAT was given: it applies to every output
  int top = 10;                       // MEMTRACE_TOP; 0 = every site
  int max_frames = 64;                // MEMTRACE_MAX_FRAMES, 1..256
  std::optional<int> leak_exit_code;  // MEMTRACE_LEAK_EXIT_CODE, 1..255
  uint64_t leak_threshold = 0;        // MEMTRACE_LEAK_THRESHOLD, bytes
  LogLevel log_level = LogLevel::kWarn;  // MEMTRACE_LOG
  ClockMode clock = ClockMode::kAuto;    // MEMTRACE_CLOCK
  bool enabled = true;                   // MEMTRACE_ENABLE
  bool all_sites = false;                // MEMTRACE_SITES=all: list sites with no live bytes too
  bool track_mmap = true;                // MEMTRACE_TRACK_MMAP
  int signal = 12;                       // MEMTRACE_SIGNAL (SIGUSR2); 0 = none
  uint64_t interval_ns = 0;              // MEMTRACE_INTERVAL; 0 = no interval snapshots
  int keep = 5;                          // MEMTRACE_KEEP: %n report files kept
  uint64_t sample_period_ns = 1000000000;  // MEMTRACE_SAMPLE_PERIOD; 0 = no timeline samples
  std::string control_dir;               // MEMTRACE_CONTROL_DIR; empty = /tmp/memtrace-<uid>; "none" = off
  bool cuda = true;                      // MEMTRACE_CUDA
  uint64_t sample_bytes = 0;             // MEMTRACE_SAMPLE_BYTES; 0 = every allocation
  bool cfi_unwinder = true;              // MEMTRACE_UNWIND=cfi|libgcc
  std::string cupti_path;                // MEMTRACE_CUPTI_PATH
  bool libc_lines = false;               // MEMTRACE_LIBC_LINES: source lines for glibc's frames
  uint64_t max_sites = 10000;            // MEMTRACE_MAX_SITES: sites listed per report; 0 = all
  // Leak kinds (the reachability scan, src/scan): what the gate counts, and
  // suppressions. Bits: kLeakKind*Bit below.
  uint32_t leak_kinds = 0xc;             // MEMTRACE_LEAK_KINDS; default definite + indirect
  std::string suppressions;              // MEMTRACE_SUPPRESSIONS: LSan-syntax file; empty = none
  bool default_suppressions = true;      // MEMTRACE_DEFAULT_SUPPRESSIONS: the built-in list
  bool interval_leaks = false;           // MEMTRACE_INTERVAL_LEAKS: interval reports carry leak kinds (a scan each)
};

// Bits of Config::leak_kinds (1 << scan::LeakKind).
inline constexpr uint32_t kLeakKindReachableBit = 1, kLeakKindPossibleBit = 2, kLeakKindIndirectBit = 4,
                          kLeakKindDefiniteBit = 8;
// Parses "definite,indirect", "all", ... (case-insensitive); nullopt on an
// unknown or empty item.
std::optional<uint32_t> ParseLeakKinds(const std::string& text);

inline constexpr int kMaxFramesLimit = 256;

struct ParsedConfig {
  Config config;
  std::vector<std::string> errors;  // one line per malformed variable
};

// `getenv` is injected so tests can feed any environment.
using EnvLookup = std::function<const char*(const char*)>;
ParsedConfig ParseConfig(const EnvLookup& getenv_fn);

// The format an output name asks for by its extension (.json, .pb.gz / .pb,
// .folded, .html / .htm; anything else: `fallback`), case-insensitively.
ReportFormat FormatForPath(const std::string& path, ReportFormat fallback);
// "text", "json", "pprof", "folded", "html"; nullopt for anything else.
std::optional<ReportFormat> ParseFormat(const std::string& name);
const char* FormatName(ReportFormat format);

// Parses "4096", "64k", "16MiB", "1G" (binary multiples). nullopt on garbage,
// negatives or overflow.
std::optional<uint64_t> ParseByteSize(const std::string& text);
// Parses "30s", "500ms", "2m", "1h", "1.5s" or plain seconds into nanoseconds.
std::optional<uint64_t> ParseDuration(const std::string& text);
// Parses "USR2", "SIGUSR1", "RTMIN+3", "12" or "none" (0). Refuses signals the
// program cannot live without (SIGKILL, SIGSEGV, ...).
std::optional<int> ParseSignal(const std::string& text);

}  // namespace memtrace
