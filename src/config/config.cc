// Parsing of MEMTRACE_* variables (see config.h). Runs outside the hot path,
// so it uses std::string freely; no abseil (text.h says why).
#include "src/config/config.h"

#include <signal.h>

#include <cctype>

#include "src/config/text.h"

namespace memtrace {
namespace {

std::optional<int64_t> ParseInt(const std::string& text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (!text::SimpleAtoi(text::StripAsciiWhitespace(text), &v)) return std::nullopt;
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// "1/true/yes/on" or "0/false/no/off"; nullopt otherwise.
std::optional<bool> ParseBool(const std::string& text) {
  std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(text));
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

// A caller's value quoted in an error line (which goes to the program's
// stderr): printable ASCII as is, anything else as \xNN, at most 80 bytes, so
// a value can neither drive a terminal nor break the line.
std::string Quoted(const char* value) {
  std::string out;
  size_t n = 0;
  for (const char* p = value; *p != '\0'; ++p, ++n) {
    if (n == 80) {
      out += "...";
      break;
    }
    unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

ReportFormat FormatForPath(const std::string& path, ReportFormat fallback) {
  if (text::EndsWithIgnoreCase(path, ".json")) return ReportFormat::kJson;
  if (text::EndsWithIgnoreCase(path, ".pb.gz") || text::EndsWithIgnoreCase(path, ".pb")) return ReportFormat::kPprof;
  if (text::EndsWithIgnoreCase(path, ".folded")) return ReportFormat::kFolded;
  if (text::EndsWithIgnoreCase(path, ".html") || text::EndsWithIgnoreCase(path, ".htm")) return ReportFormat::kHtml;
  return fallback;
}

std::optional<ReportFormat> ParseFormat(const std::string& name) {
  std::string s = text::AsciiStrToLower(name);
  if (s == "text") return ReportFormat::kText;
  if (s == "json") return ReportFormat::kJson;
  if (s == "pprof") return ReportFormat::kPprof;
  if (s == "folded") return ReportFormat::kFolded;
  if (s == "html") return ReportFormat::kHtml;
  return std::nullopt;
}

const char* FormatName(ReportFormat format) {
  switch (format) {
    case ReportFormat::kText: return "text";
    case ReportFormat::kJson: return "json";
    case ReportFormat::kPprof: return "pprof";
    case ReportFormat::kFolded: return "folded";
    case ReportFormat::kHtml: return "html";
  }
  return "text";
}

std::optional<uint64_t> ParseByteSize(const std::string& text) {
  std::string s(text::StripAsciiWhitespace(text));
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0) return std::nullopt;
  uint64_t value = 0;
  if (!text::SimpleAtoi(s.substr(0, digits), &value)) return std::nullopt;
  std::string suffix = text::AsciiStrToLower(s.substr(digits));
  int shift = 0;
  if (suffix.empty() || suffix == "b") shift = 0;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib") shift = 10;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib") shift = 20;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib") shift = 30;
  else if (suffix == "t" || suffix == "tb" || suffix == "tib") shift = 40;
  else return std::nullopt;
  if (shift > 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

std::optional<uint64_t> ParseDuration(const std::string& text) {
  std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(text));
  size_t num_end = 0;
  while (num_end < s.size() && (std::isdigit(static_cast<unsigned char>(s[num_end])) || s[num_end] == '.')) ++num_end;
  if (num_end == 0) return std::nullopt;
  double value = 0;
  if (!text::SimpleAtod(s.substr(0, num_end), &value) || value < 0) return std::nullopt;
  std::string unit = s.substr(num_end);
  double scale;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "us") scale = 1e3;
  else if (unit == "m" || unit == "min") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return std::nullopt;
  double ns = value * scale;
  if (ns > 1e18) return std::nullopt;
  return static_cast<uint64_t>(ns);
}

std::optional<int> ParseSignal(const std::string& text) {
  std::string s = text::AsciiStrToUpper(text::StripAsciiWhitespace(text));
  if (s == "NONE" || s == "0") return 0;
  if (text::StartsWith(s, "SIG")) s = s.substr(3);
  int signo = -1;
  if (s == "USR1") signo = SIGUSR1;
  else if (s == "USR2") signo = SIGUSR2;
  else if (s == "HUP") signo = SIGHUP;
  else if (s == "WINCH") signo = SIGWINCH;
  else if (s == "URG") signo = SIGURG;
  else if (s == "PWR") signo = SIGPWR;
  else if (text::StartsWith(s, "RTMIN")) {
    int off = 0;
    if (s.size() > 5 && (s[5] != '+' || !text::SimpleAtoi(s.substr(6), &off))) return std::nullopt;
    signo = SIGRTMIN + off;
  } else if (!text::SimpleAtoi(s, &signo)) {
    return std::nullopt;
  }
  if (signo <= 0 || signo >= NSIG) return std::nullopt;
  switch (signo) {
    // Fatal, job-control and process-management signals keep their meaning.
    case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT: case SIGTRAP:
    case SIGCHLD: case SIGPIPE: case SIGALRM: case SIGINT: case SIGTERM: case SIGQUIT: case SIGPROF:
    case SIGTSTP: case SIGTTIN: case SIGTTOU: case SIGCONT: case SIGSYS: case SIGXCPU: case SIGXFSZ: case SIGVTALRM:
      return std::nullopt;
    default:
      return signo;
  }
}

std::optional<uint32_t> ParseLeakKinds(const std::string& text) {
  uint32_t kinds = 0;
  for (std::string_view item : text::Split(text, ',')) {
    std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(item));
    if (s == "definite") kinds |= kLeakKindDefiniteBit;
    else if (s == "indirect") kinds |= kLeakKindIndirectBit;
    else if (s == "possible") kinds |= kLeakKindPossibleBit;
    else if (s == "reachable") kinds |= kLeakKindReachableBit;
    else if (s == "all") kinds |= kLeakKindDefiniteBit | kLeakKindIndirectBit | kLeakKindPossibleBit | kLeakKindReachableBit;
    else return std::nullopt;
  }
  return kinds;
}

ParsedConfig ParseConfig(const EnvLookup& getenv_fn) {
  ParsedConfig out;
  Config& c = out.config;
  auto bad = [&](const char* name, const char* value, const std::string& fallback) {
    out.errors.push_back(std::string("invalid ") + name + "='" + Quoted(value) + "'; using the default (" + fallback + ")");
  };
  // A variable that is set but empty is treated as unset.
  auto get = [&](const char* name) -> const char* {
    const char* v = getenv_fn(name);
    return (v != nullptr && v[0] != '\0') ? v : nullptr;
  };

  if (const char* v = get("MEMTRACE_LOG")) {
    std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(v));
    if (s == "quiet" || s == "none") c.log_level = LogLevel::kQuiet;
    else if (s == "error") c.log_level = LogLevel::kError;
    else if (s == "warn" || s == "warning") c.log_level = LogLevel::kWarn;
    else if (s == "info") c.log_level = LogLevel::kInfo;
    else if (s == "debug") c.log_level = LogLevel::kDebug;
    else bad("MEMTRACE_LOG", v, "warn");
  }
  if (const char* v = get("MEMTRACE_ENABLE")) {
    if (auto b = ParseBool(v)) c.enabled = *b;
    else bad("MEMTRACE_ENABLE", v, "1");
  }
  if (const char* v = get("MEMTRACE_TRACK_MMAP")) {
    if (auto b = ParseBool(v)) c.track_mmap = *b;
    else bad("MEMTRACE_TRACK_MMAP", v, "1");
  }
  if (const char* v = get("MEMTRACE_OUTPUT")) c.output = v;

  // MEMTRACE_OUTPUT may list several outputs (comma-separated); each gets
  // the format its extension names unless MEMTRACE_FORMAT says otherwise.
  c.format = FormatForPath(c.output.substr(0, c.output.find(',')), ReportFormat::kText);
  if (const char* v = get("MEMTRACE_FORMAT")) {
    if (auto f = ParseFormat(std::string(text::StripAsciiWhitespace(v)))) {
      c.format = *f;
      c.format_explicit = true;
    } else {
      bad("MEMTRACE_FORMAT", v, "by each output's extension");
    }
  }
  if (const char* v = get("MEMTRACE_MAX_SITES")) {
    if (auto n = ParseInt(v, 0, 100000000)) c.max_sites = static_cast<uint64_t>(*n);
    else bad("MEMTRACE_MAX_SITES", v, "10000");
  }
  if (const char* v = get("MEMTRACE_TOP")) {
    if (auto n = ParseInt(v, 0, 1000000)) c.top = static_cast<int>(*n);
    else bad("MEMTRACE_TOP", v, "10");
  }
  if (const char* v = get("MEMTRACE_MAX_FRAMES")) {
    if (auto n = ParseInt(v, 1, kMaxFramesLimit)) c.max_frames = static_cast<int>(*n);
    else bad("MEMTRACE_MAX_FRAMES", v, "64");
  }
  if (const char* v = get("MEMTRACE_LEAK_EXIT_CODE")) {
    if (auto n = ParseInt(v, 1, 255)) c.leak_exit_code = static_cast<int>(*n);
    else bad("MEMTRACE_LEAK_EXIT_CODE", v, "unset: the exit status is never changed");
  }
  if (const char* v = get("MEMTRACE_LEAK_THRESHOLD")) {
    if (auto n = ParseByteSize(v)) c.leak_threshold = *n;
    else bad("MEMTRACE_LEAK_THRESHOLD", v, "0");
  }
  if (const char* v = get("MEMTRACE_LEAK_KINDS")) {
    if (auto k = ParseLeakKinds(v)) c.leak_kinds = *k;
    else bad("MEMTRACE_LEAK_KINDS", v, "definite,indirect");
  }
  if (const char* v = get("MEMTRACE_SUPPRESSIONS")) c.suppressions = v;
  if (const char* v = get("MEMTRACE_DEFAULT_SUPPRESSIONS")) {
    if (auto b = ParseBool(v)) c.default_suppressions = *b;
    else bad("MEMTRACE_DEFAULT_SUPPRESSIONS", v, "1");
  }
  if (const char* v = get("MEMTRACE_INTERVAL_LEAKS")) {
    if (auto b = ParseBool(v)) c.interval_leaks = *b;
    else bad("MEMTRACE_INTERVAL_LEAKS", v, "0");
  }
  if (const char* v = get("MEMTRACE_SITES")) {
    std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(v));
    if (s == "live") c.all_sites = false;
    else if (s == "all") c.all_sites = true;
    else bad("MEMTRACE_SITES", v, "live");
  }
  if (const char* v = get("MEMTRACE_SIGNAL")) {
    if (auto n = ParseSignal(v)) c.signal = *n;
    else bad("MEMTRACE_SIGNAL", v, "USR2");
  }
  if (const char* v = get("MEMTRACE_INTERVAL")) {
    auto n = ParseDuration(v);
    if (n && (*n == 0 || *n >= 10000000)) c.interval_ns = *n;
    else bad("MEMTRACE_INTERVAL", v, "0: no interval snapshots; the minimum is 10ms");
  }
  if (const char* v = get("MEMTRACE_KEEP")) {
    if (auto n = ParseInt(v, 1, 1000000)) c.keep = static_cast<int>(*n);
    else bad("MEMTRACE_KEEP", v, "5");
  }
  if (const char* v = get("MEMTRACE_SAMPLE_PERIOD")) {
    auto n = ParseDuration(v);
    if (n && (*n == 0 || *n >= 10000000)) c.sample_period_ns = *n;
    else bad("MEMTRACE_SAMPLE_PERIOD", v, "1s; the minimum is 10ms");
  }
  if (const char* v = get("MEMTRACE_CONTROL_DIR")) c.control_dir = v;
  if (const char* v = get("MEMTRACE_CUDA")) {
    if (auto b = ParseBool(v)) c.cuda = *b;
    else bad("MEMTRACE_CUDA", v, "1");
  }
  if (const char* v = get("MEMTRACE_CUPTI_PATH")) c.cupti_path = v;
  if (const char* v = get("MEMTRACE_LIBC_LINES")) {
    if (auto b = ParseBool(v)) c.libc_lines = *b;
    else bad("MEMTRACE_LIBC_LINES", v, "0");
  }
  if (const char* v = get("MEMTRACE_UNWIND")) {
    std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(v));
    if (s == "cfi") c.cfi_unwinder = true;
    else if (s == "libgcc" || s == "backtrace" || s == "libunwind") c.cfi_unwinder = false;  // libunwind: the old name
    else bad("MEMTRACE_UNWIND", v, "cfi");
  }
  if (const char* v = get("MEMTRACE_SAMPLE_BYTES")) {
    if (auto n = ParseByteSize(v)) c.sample_bytes = *n;
    else bad("MEMTRACE_SAMPLE_BYTES", v, "0: every allocation");
  }
  if (const char* v = get("MEMTRACE_CLOCK")) {
    std::string s = text::AsciiStrToLower(text::StripAsciiWhitespace(v));
    if (s == "auto") c.clock = ClockMode::kAuto;
    else if (s == "tsc") c.clock = ClockMode::kTsc;
    else if (s == "counter") c.clock = ClockMode::kCounter;
    else bad("MEMTRACE_CLOCK", v, "auto");
  }
  return out;
}

}  // namespace memtrace
