// The memtrace command: run a program under the tracer, ask a running traced
// process for a report, print or convert a saved report, compare two reports.
//
// Exit status: 0 on success; 1 when the work failed (an unreadable or
// invalid report, a process that does not answer), always with one line on
// stderr; 2 for a usage error. `memtrace run` exits with the program's own
// status (or the gate's). Nothing a report contains reaches the terminal
// unescaped (render.h, Printable).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/cli/args.h"
#include "src/cli/diff.h"
#include "src/cli/report_reader.h"
#include "src/config/config.h"
#include "src/report/output.h"
#include "src/report/render.h"
#include "src/report/report_writer.h"
#include "src/report/safe_file.h"
#include "src/trigger/control_file.h"
#include "src/trigger/control_protocol.h"
#include "src/trigger/signal_trigger.h"

namespace memtrace {
namespace {

using cli::Args;
using cli::OptionSpec;

constexpr char kUsage[] =
    "usage: memtrace <command> [options]\n"
    "       memtrace --version\n"
    "\n"
    "commands:\n"
    "  run     run a program under the tracer\n"
    "  dump    ask a running traced process for a report now\n"
    "  report  print a saved JSON report as text, JSON, pprof, folded stacks or HTML\n"
    "  diff    what grew between two JSON reports\n"
    "\n"
    "`memtrace <command> --help` describes each; `man memtrace` has the details.\n";

constexpr char kRunUsage[] =
    "usage: memtrace run [options] program [args...]\n"
    "\n"
    "Runs the program with libmemtrace preloaded; the first word that is not an\n"
    "option starts the program's command line (`--` also ends the options).\n"
    "Options (`--opt value` or `--opt=value`) become MEMTRACE_* variables:\n"
    "  --output FILE     MEMTRACE_OUTPUT: %p pid, %n report number; the extension picks the\n"
    "                    format (.json, .pb.gz, .folded, .html, else text); several: a,b\n"
    "  --format F        MEMTRACE_FORMAT: text, json, pprof, folded or html for every output\n"
    "  --interval T      MEMTRACE_INTERVAL: a report every T (e.g. 30s, 500ms)\n"
    "  --gate BYTES      leak gate: exit with --gate-code if more than BYTES leaked (by\n"
    "                    default definitely + indirectly lost, in the heap and tracked mappings)\n"
    "  --gate-code N     the gate's exit status (default 23)\n"
    "  --leak-kinds K    MEMTRACE_LEAK_KINDS: what the gate counts: a comma list of\n"
    "                    definite, indirect, possible, reachable, or all\n"
    "The library is found next to this command, then in the install prefix, then\n"
    "through MEMTRACE_LIB. The exit status is the program's, or the gate's however the\n"
    "program ended (also after a kill or Go's exit_group: memtrace waits for the final\n"
    "report); a program killed by a signal kills memtrace with the same signal.\n"
    "SIGINT, SIGTERM, SIGHUP and SIGUSR2 are forwarded to the program.\n";

constexpr char kDumpUsage[] =
    "usage: memtrace dump PID [--output FILE] [--timeout SECONDS] [--leaks] [--signal]\n"
    "\n"
    "Asks the traced process PID (yours) for a report now and prints where it went.\n"
    "By default through its control file (no signal needed); --signal sends its\n"
    "report signal (MEMTRACE_SIGNAL, default SIGUSR2) instead. --output chooses the\n"
    "file (its extension picks the format). --leaks adds leak kinds: the process is\n"
    "stopped for a reachability scan (a fraction of a second per GiB of heap).\n";

constexpr char kReportUsage[] =
    "usage: memtrace report FILE.json [--format F] [--output FILE] [--top N] [--max-input BYTES]\n"
    "\n"
    "Prints a saved JSON report (schema memtrace/2) after checking it against the\n"
    "schema. --format: text (default: what the tracer printed, top N sites, default\n"
    "10, 0 = all), json, pprof (gzipped profile.proto), folded or html. --output\n"
    "writes a file (0600) instead of standard output. At most --max-input bytes are\n"
    "read (default 1GiB).\n";

constexpr char kDiffUsage[] =
    "usage: memtrace diff A.json B.json [--top N] [--json] [--format text|json|pprof] [--output FILE]\n"
    "\n"
    "Lists the call sites whose live memory changed from A to B, largest growth first,\n"
    "with stacks and memory spaces: what grew, what appeared, what shrank or disappeared.\n"
    "--format pprof writes B minus A as a gzipped profile (go tool pprof -diff_base\n"
    "semantics); --json is --format json.\n";

// Errors: one line on stderr.
int Fail(int status, const std::string& message) {
  std::string line = "memtrace: " + message + "\n";
  fwrite(line.data(), 1, line.size(), stderr);
  return status;
}
int UsageError(const absl::Status& st) { return Fail(2, std::string(st.message())); }

// --help prints the usage and succeeds; too few positional arguments print
// it and fail. Returns -1 when the command should go on.
int Usage(const Args& args, const char* usage, size_t min_positional) {
  if (args.help()) {
    fputs(usage, stdout);
    return 0;
  }
  if (args.positional().size() < min_positional) {
    fputs(usage, stderr);
    return 2;
  }
  return -1;
}

// All bytes, NULs included.
bool WriteStdout(const std::string& content) {
  return fwrite(content.data(), 1, content.size(), stdout) == content.size() && fflush(stdout) == 0;
}

int Emit(const std::string& content, const std::optional<std::string>& output, bool binary = false) {
  if (!output && binary && isatty(STDOUT_FILENO)) {
    return Fail(2, "not writing a binary profile to a terminal: use --output FILE or redirect standard output");
  }
  if (output) {
    absl::Status st = WriteReportFile(*output, content);
    if (!st.ok()) return Fail(1, Printable(std::string(st.message())));
    return 0;
  }
  return WriteStdout(content) ? 0 : Fail(1, std::string("cannot write to standard output: ") + strerror(errno));
}

std::string SelfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  return buf;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// libmemtrace.so: next to this binary (a build tree, or bin/ and lib/ merged),
// then in the install prefix (relative to this binary, so a relocated install
// works, then as configured), then MEMTRACE_LIB.
std::string FindLibrary(std::string* looked) {
  std::string self = SelfPath();
  std::vector<std::string> candidates;
  if (!self.empty()) {
    std::string dir = DirName(self);
    candidates.push_back(dir + "/libmemtrace.so");
    candidates.push_back(DirName(dir) + "/" + MEMTRACE_INSTALL_LIBDIR_REL + "/libmemtrace.so");
  }
  candidates.push_back(std::string(MEMTRACE_INSTALL_LIBDIR) + "/libmemtrace.so");
  if (const char* env = getenv("MEMTRACE_LIB"); env != nullptr && *env != '\0') candidates.push_back(env);
  for (const std::string& c : candidates) {
    if (access(c.c_str(), R_OK) == 0) return c;
  }
  for (const std::string& c : candidates) *looked += (looked->empty() ? "" : ", ") + c;
  if (getenv("MEMTRACE_LIB") == nullptr) *looked += " (MEMTRACE_LIB is not set)";
  return "";
}

pid_t g_child = -1;

void Forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

// A number after `"key": ` in the watcher's small result file; `fallback`
// when absent.
long long ResultNumber(const std::string& text, const char* key, long long fallback) {
  std::string needle = absl::StrCat("\"", key, "\": ");
  size_t at = text.find(needle);
  if (at == std::string::npos) return fallback;
  return strtoll(text.c_str() + at + needle.size(), nullptr, 10);
}

// Waits for the watcher's verdict on the program that just ended (its
// watcher may still be writing the final report) and returns the gate's exit
// code, or -1. Nothing to wait for if the program was never traced.
int AwaitVerdict(const std::string& path) {
  for (int waited_ms = 0; waited_ms < 120000; waited_ms += 10) {
    absl::StatusOr<std::string> read = safe_file::ReadFile(path, 1 << 16);
    std::string text = read.ok() ? *read : "";
    if (text.empty()) return -1;  // never traced (a static program, MEMTRACE_ENABLE=0)
    if (text.find("\"state\": \"done\"") != std::string::npos) {
      int code = static_cast<int>(ResultNumber(text, "gate_exit_code", -1));
      if (code > 0) {
        fprintf(stderr, "memtrace: %lld bytes live at the end exceed the gate's threshold; exit status %d\n",
                ResultNumber(text, "live_bytes", 0), code);
      }
      return code;
    }
    long long watcher = ResultNumber(text, "watcher_pid", 0);
    if (watcher <= 0 || (kill(static_cast<pid_t>(watcher), 0) != 0 && errno == ESRCH)) return -1;  // gone, no verdict
    timespec ts{0, 10000000};
    nanosleep(&ts, nullptr);
  }
  fprintf(stderr, "memtrace: run: no verdict from the watcher after 120 s\n");
  return -1;
}

constexpr OptionSpec kRunOptions[] = {
    {"--output", "FILE"}, {"--format", "F"}, {"--interval", "T"}, {"--gate", "BYTES"}, {"--gate-code", "N"},
    {"--leak-kinds", "K"}};

int Run(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = Args::Parse("run", argv, kRunOptions, /*stop_at_positional=*/true);
  if (!args.ok()) return UsageError(args.status());
  if (int rc = Usage(*args, kRunUsage, 0); rc >= 0) return rc;
  if (args->positional().empty()) return Fail(2, "run: no program given (memtrace run [options] program args...)");
  std::vector<std::pair<std::string, std::string>> env;
  if (auto v = args->Value("--output")) env.emplace_back("MEMTRACE_OUTPUT", *v);
  if (auto v = args->Value("--format")) {
    if (!ParseFormat(*v)) {
      return Fail(2, absl::StrCat("run: bad value '", Printable(*v), "' for --format: expected text, json, pprof, "
                                  "folded or html"));
    }
    env.emplace_back("MEMTRACE_FORMAT", *v);
  }
  if (auto v = args->Value("--interval")) {
    if (!ParseDuration(*v)) {
      return Fail(2, absl::StrCat("run: bad value '", Printable(*v), "' for --interval: expected a duration such as "
                                  "30s or 500ms"));
    }
    env.emplace_back("MEMTRACE_INTERVAL", *v);
  }
  if (auto v = args->Value("--leak-kinds")) {
    if (!ParseLeakKinds(*v)) {
      return Fail(2, absl::StrCat("run: bad value '", Printable(*v), "' for --leak-kinds: expected a comma list of "
                                  "definite, indirect, possible, reachable, or all"));
    }
    env.emplace_back("MEMTRACE_LEAK_KINDS", *v);
  }
  absl::StatusOr<int64_t> gate_code = args->Int("--gate-code", 1, 255, 23);
  if (!gate_code.ok()) return UsageError(gate_code.status());
  if (args->Has("--gate")) {
    absl::StatusOr<uint64_t> gate = args->ByteSize("--gate", 0);
    if (!gate.ok()) return UsageError(gate.status());
    env.emplace_back("MEMTRACE_LEAK_THRESHOLD", absl::StrCat(*gate));
    env.emplace_back("MEMTRACE_LEAK_EXIT_CODE", absl::StrCat(*gate_code));
  }
  std::string looked;
  std::string lib = FindLibrary(&looked);
  if (lib.empty()) return Fail(1, absl::StrCat("run: cannot find libmemtrace.so (looked at ", Printable(looked), ")"));
  const char* old_preload = getenv("LD_PRELOAD");
  env.emplace_back("LD_PRELOAD", old_preload != nullptr && *old_preload ? lib + ":" + old_preload : lib);

  std::vector<char*> child_argv;
  for (const std::string& a : args->positional()) child_argv.push_back(const_cast<char*>(a.c_str()));
  child_argv.push_back(nullptr);
  // The watcher leaves the final verdict here, however the program ends
  // (the gate for a program killed by a signal or leaving through exit_group).
  char result_dir[] = "/tmp/memtrace-run-XXXXXX";
  std::string result;
  // A private directory of ours, verified as such once made (safe_file.h).
  if (mkdtemp(result_dir) != nullptr && safe_file::Dir::OpenPrivate(result_dir, /*create=*/false).ok()) {
    result = absl::StrCat(result_dir, "/result.json");
  }
  g_child = fork();
  if (g_child < 0) return Fail(1, absl::StrCat("run: fork: ", strerror(errno)));
  if (g_child == 0) {
    for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    if (!result.empty()) setenv("MEMTRACE_RUN_RESULT", result.c_str(), 1);
    setenv("MEMTRACE_GATE_PID", std::to_string(getpid()).c_str(), 1);  // the gate is this process's
    execvp(child_argv[0], child_argv.data());
    std::string line = absl::StrCat("memtrace: run: cannot execute ", Printable(child_argv[0]), ": ", strerror(errno), "\n");
    ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
    _exit(127);
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR2}) signal(sig, Forward);
  int status = 0;
  while (waitpid(g_child, &status, 0) < 0) {
    if (errno != EINTR) return Fail(1, absl::StrCat("run: waitpid: ", strerror(errno)));
  }
  int verdict = result.empty() ? -1 : AwaitVerdict(result);
  if (!result.empty()) {  // our mkdtemp directory: its file, then itself
    if (absl::StatusOr<safe_file::Dir> d = safe_file::Dir::Open(result_dir); d.ok()) (void)d->Remove("result.json");
    std::string parent, name;
    safe_file::SplitPath(result_dir, &parent, &name);
    if (absl::StatusOr<safe_file::Dir> p = safe_file::Dir::Open(parent); p.ok()) (void)p->RemoveDir(name);
  }
  if (verdict > 0) return verdict;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(sig);
    return 128 + sig;
  }
  return 1;
}

// The value of `name` in the environment of process `pid`, or "".
std::string ProcessEnv(pid_t pid, const char* name) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/environ"), std::ios::binary);
  std::string entry;
  std::string prefix = absl::StrCat(name, "=");
  while (std::getline(in, entry, '\0')) {
    if (absl::StartsWith(entry, prefix)) return entry.substr(prefix.size());
  }
  return "";
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::string out;
  char buf[4096];
  while (in && out.size() < (1 << 20)) {
    in.read(buf, sizeof(buf));
    out.append(buf, static_cast<size_t>(in.gcount()));
  }
  return out;
}

constexpr OptionSpec kDumpOptions[] = {
    {"--output", "FILE"}, {"--timeout", "SECONDS"}, {"--leaks", nullptr}, {"--signal", nullptr}};

// The watcher writes where the user's shell is not: relative outputs are
// made absolute here (each of a comma-separated list).
std::string AbsoluteOutputs(const std::string& output) {
  if (output.empty()) return output;
  char cwd[4096];
  std::string base = getcwd(cwd, sizeof(cwd)) != nullptr ? cwd : "";
  std::vector<std::string> items;
  for (const std::string& item : SplitOutputs(output)) {
    items.push_back(item[0] == '/' || base.empty() ? item : (base == "/" ? "/" : base + "/") + item);
  }
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

timespec Pause50ms() { return timespec{0, 50000000}; }

int Dump(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = Args::Parse("dump", argv, kDumpOptions, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError(args.status());
  if (int rc = Usage(*args, kDumpUsage, 1); rc >= 0) return rc;
  if (args->positional().size() > 1) return Fail(2, absl::StrCat("dump: unexpected argument '", Printable(args->positional()[1]), "'"));
  int pid = 0;
  const std::string& pid_text = args->positional()[0];
  if (!absl::SimpleAtoi(pid_text, &pid) || pid <= 0) return Fail(2, absl::StrCat("dump: '", Printable(pid_text), "' is not a pid"));
  std::string output = AbsoluteOutputs(args->Value("--output").value_or(""));
  double timeout = 10;
  if (auto v = args->Value("--timeout")) {
    if (!absl::SimpleAtod(*v, &timeout) || !(timeout > 0) || timeout > 86400) {
      return Fail(2, absl::StrCat("dump: bad value '", Printable(*v), "' for --timeout: expected seconds, e.g. 10 or 0.5"));
    }
  }
  bool use_signal = args->Has("--signal");
  bool leaks = args->Has("--leaks");
  if (leaks && use_signal) return Fail(2, "dump: --leaks goes through the control file; it cannot be sent with --signal");
  struct stat st{};
  if (stat(absl::StrCat("/proc/", pid).c_str(), &st) != 0) return Fail(1, absl::StrCat("dump: no process ", pid));
  if (st.st_uid != geteuid()) return Fail(1, absl::StrCat("dump: process ", pid, " belongs to another user"));
  if (!absl::StrContains(ReadSmallFile(absl::StrCat("/proc/", pid, "/maps")), "libmemtrace.so")) {
    return Fail(1, absl::StrCat("dump: process ", pid, " is not traced (libmemtrace.so is not loaded in it)"));
  }
  std::string dir_setting = ProcessEnv(pid, "MEMTRACE_CONTROL_DIR");
  std::string dir_path = dir_setting.empty() ? ControlFile::DefaultDir() : dir_setting;
  if (dir_setting == "none" && !use_signal) {
    if (leaks) return Fail(1, absl::StrCat("dump: process ", pid, " has no control directory (MEMTRACE_CONTROL_DIR=none): --leaks needs it"));
    use_signal = true;
  }
  // Only a private directory of ours (safe_file.h): another user may have
  // made /tmp/memtrace-<uid> first and planted links in it.
  absl::StatusOr<safe_file::Dir> dir = dir_setting == "none"
                                           ? absl::StatusOr<safe_file::Dir>(absl::NotFoundError("disabled"))
                                           : safe_file::Dir::OpenPrivate(dir_path, /*create=*/false);
  if (!dir.ok() && !use_signal) {
    return Fail(1, absl::StrCat("dump: ", Printable(std::string(dir.status().message())),
                                " (memtrace dump --signal needs no control directory)"));
  }
  const std::string ack_name = ControlFile::AckName(pid);
  std::string token;
  safe_file::FileId before{};
  if (use_signal) {
    if (dir.ok()) (void)dir->Read(ack_name, control::kMaxFileBytes, &before);
    int signo = SIGUSR2;
    std::string s = ProcessEnv(pid, "MEMTRACE_SIGNAL");
    if (!s.empty()) {
      auto parsed = ParseSignal(s);
      if (!parsed || *parsed == 0) return Fail(1, absl::StrCat("dump: process ", pid, " has no report signal"));
      signo = *parsed;
    }
    // Queued with our cookie: the tracer's handler answers it even when the
    // program owns the signal (its handler then does not run).
    union sigval value;
    value.sival_int = signal_trigger::kCookie;
    if (sigqueue(pid, signo, value) != 0) return Fail(1, absl::StrCat("dump: sigqueue: ", strerror(errno)));
    if (!dir.ok()) {
      printf("sent signal %d to %d; the report goes to its MEMTRACE_OUTPUT\n", signo, pid);
      return 0;
    }
  } else {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    token = absl::StrCat(getpid(), "-", now.tv_sec, ".", now.tv_nsec);
    absl::StatusOr<std::string> request = control::EncodeRequest(control::DumpRequest{token, output, leaks});
    if (!request.ok()) return Fail(2, absl::StrCat("dump: --output: ", std::string(request.status().message())));
    absl::StatusOr<safe_file::FileId> written = dir->Replace(ControlFile::RequestName(pid), *request);
    if (!written.ok()) return Fail(1, absl::StrCat("dump: ", Printable(std::string(written.status().message()))));
  }
  // Wait for the watcher's answer: the file named after our token, or (a
  // signal) any new record of a report.
  const std::string answer_name = use_signal ? ack_name : ControlFile::AnswerName(pid, token);
  for (double waited = 0; waited < timeout; waited += 0.05) {
    safe_file::FileId now{};
    absl::StatusOr<std::string> bytes = dir->Read(answer_name, control::kMaxFileBytes, &now);
    if (bytes.ok()) {
      absl::StatusOr<control::Ack> ack = control::ParseAck(*bytes);
      bool ours = ack.ok() && (use_signal ? now != before : ack->token == token);
      if (ours && !use_signal) (void)dir->RemoveIfSame(answer_name, now);
      if (ours) {
        if (ack->where.empty()) return Fail(1, absl::StrCat("dump: process ", pid, " could not write the report"));
        printf("report written to %s\n", Printable(ack->where).c_str());
        return 0;
      }
    }
    timespec ts = Pause50ms();
    nanosleep(&ts, nullptr);
  }
  return Fail(1, absl::StrCat("dump: process ", pid, " did not answer within ", timeout, " s"));
}

constexpr OptionSpec kReportOptions[] = {
    {"--top", "N"}, {"--format", "F"}, {"--output", "FILE"}, {"--max-input", "BYTES"}};

int Report(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = Args::Parse("report", argv, kReportOptions, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError(args.status());
  if (int rc = Usage(*args, kReportUsage, 1); rc >= 0) return rc;
  if (args->positional().size() > 1) {
    return Fail(2, absl::StrCat("report: unexpected argument '", Printable(args->positional()[1]), "' (one report at a time)"));
  }
  absl::StatusOr<int64_t> top = args->Int("--top", 0, 1000000000, 10);
  if (!top.ok()) return UsageError(top.status());
  absl::StatusOr<uint64_t> max_input = args->ByteSize("--max-input", kDefaultMaxReportBytes);
  if (!max_input.ok()) return UsageError(max_input.status());
  ReportFormat format = ReportFormat::kText;
  if (auto v = args->Value("--format")) {
    std::optional<ReportFormat> f = ParseFormat(*v);
    if (!f) {
      return Fail(2, absl::StrCat("report: bad value '", Printable(*v), "' for --format: expected text, json, pprof, "
                                  "folded or html"));
    }
    format = *f;
  } else if (auto out = args->Value("--output")) {
    format = FormatForPath(*out, ReportFormat::kText);
  }
  absl::StatusOr<ReportDoc> doc = ReadJsonReport(args->positional()[0], *max_input);
  if (!doc.ok()) return Fail(1, std::string(doc.status().message()));
  return Emit(RenderReport(*doc, format, ReportOptions{static_cast<int>(*top)}), args->Value("--output"),
              format == ReportFormat::kPprof);
}

constexpr OptionSpec kDiffOptions[] = {
    {"--top", "N"}, {"--json", nullptr}, {"--format", "F"}, {"--output", "FILE"}, {"--max-input", "BYTES"}};

int Diff(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = Args::Parse("diff", argv, kDiffOptions, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError(args.status());
  if (int rc = Usage(*args, kDiffUsage, 2); rc >= 0) return rc;
  if (args->positional().size() > 2) {
    return Fail(2, absl::StrCat("diff: unexpected argument '", Printable(args->positional()[2]), "' (two reports)"));
  }
  absl::StatusOr<int64_t> top = args->Int("--top", 0, 1000000000, 20);
  if (!top.ok()) return UsageError(top.status());
  absl::StatusOr<uint64_t> max_input = args->ByteSize("--max-input", kDefaultMaxReportBytes);
  if (!max_input.ok()) return UsageError(max_input.status());
  std::string format = args->Has("--json") ? "json" : "text";
  if (auto v = args->Value("--format")) {
    if (*v != "text" && *v != "json" && *v != "pprof") {
      return Fail(2, absl::StrCat("diff: bad value '", Printable(*v), "' for --format: expected text, json or pprof"));
    }
    format = *v;
  }
  absl::StatusOr<ReportDoc> a = ReadJsonReport(args->positional()[0], *max_input);
  if (!a.ok()) return Fail(1, std::string(a.status().message()));
  absl::StatusOr<ReportDoc> b = ReadJsonReport(args->positional()[1], *max_input);
  if (!b.ok()) return Fail(1, std::string(b.status().message()));
  if (format == "pprof") return Emit(RenderDiffPprof(*a, *b), args->Value("--output"), /*binary=*/true);
  std::vector<SiteDiff> diffs = DiffReports(*a, *b);
  return Emit(format == "json" ? RenderDiffJson(*a, *b, diffs) : RenderDiffText(*a, *b, diffs, static_cast<int>(*top)),
              args->Value("--output"));
}

int Main(std::vector<std::string> args) {
  if (args.empty()) {
    fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    printf("memtrace %s\n", MemtraceVersion());
    return 0;
  }
  args.erase(args.begin());
  if (cmd == "run") return Run(args);
  if (cmd == "dump") return Dump(args);
  if (cmd == "report") return Report(args);
  if (cmd == "diff") return Diff(args);
  Fail(2, absl::StrCat("unknown command '", Printable(cmd), "'"));
  fputs(kUsage, stderr);
  return 2;
}

}  // namespace
}  // namespace memtrace

int main(int argc, char** argv) {
  // Nothing escapes as an uncaught exception: the only ones left are the
  // standard library's (std::bad_alloc under a memory limit).
  try {
    return memtrace::Main(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::bad_alloc&) {
    return memtrace::Fail(1, "out of memory (is the input too large for the memory limit? see --max-input)");
  } catch (const std::exception& e) {
    return memtrace::Fail(1, memtrace::Printable(e.what()));
  }
}
