// The memtrace command: run a program under the tracer, ask a running traced
// process for a report, print a saved report, compare two reports.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/cli/diff.h"
#include "src/cli/report_reader.h"
#include "src/config/config.h"
#include "src/report/report_doc.h"
#include "src/trigger/control_file.h"
#include "src/trigger/signal_trigger.h"

namespace memtrace {
namespace {

constexpr char kUsage[] =
    "usage: memtrace <command> [options]\n"
    "\n"
    "commands:\n"
    "  run     run a program under the tracer\n"
    "  dump    ask a running traced process for a report now\n"
    "  report  print the text report of a saved JSON report\n"
    "  diff    what grew between two JSON reports\n"
    "\n"
    "`memtrace <command> --help` describes each.\n";

constexpr char kRunUsage[] =
    "usage: memtrace run [--output FILE] [--interval T] [--gate BYTES] [--gate-code N] -- command [args...]\n"
    "\n"
    "Runs the command with libmemtrace preloaded. Options become MEMTRACE_* variables:\n"
    "  --output FILE   MEMTRACE_OUTPUT (%p: pid, %n: report number; .json for JSON)\n"
    "  --interval T    MEMTRACE_INTERVAL: a report every T (e.g. 30s, 500ms)\n"
    "  --gate BYTES    leak gate: exit with --gate-code (default 23) if more than BYTES are live at exit\n"
    "  --gate-code N   the gate's exit status\n"
    "The exit status is the command's (or the gate's); a command killed by a signal\n"
    "kills memtrace with the same signal. SIGINT, SIGTERM, SIGHUP and SIGUSR2 are\n"
    "forwarded to the command.\n";

constexpr char kDumpUsage[] =
    "usage: memtrace dump PID [--output FILE] [--timeout SECONDS] [--signal]\n"
    "\n"
    "Asks the traced process PID (yours) for a report now and prints where it went.\n"
    "By default through its control file (no signal needed); --signal sends its\n"
    "report signal (MEMTRACE_SIGNAL, default SIGUSR2) instead.\n";

constexpr char kReportUsage[] =
    "usage: memtrace report FILE.json [--top N]\n"
    "\n"
    "Prints the text report of a saved JSON report (top N sites, default 10; 0 = all).\n";

constexpr char kDiffUsage[] =
    "usage: memtrace diff A.json B.json [--top N] [--json]\n"
    "\n"
    "Lists the call sites whose live memory changed from A to B, largest growth first,\n"
    "with stacks and memory spaces: what grew, what appeared, what shrank or disappeared.\n";

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return true;
    if (a == "--") break;
  }
  return false;
}

// --help prints the usage and succeeds; too few arguments print it and fail.
// Returns -1 when the command should go on.
int Usage(const std::vector<std::string>& args, const char* usage, size_t min_args) {
  if (WantsHelp(args)) {
    fputs(usage, stdout);
    return 0;
  }
  if (args.size() < min_args) {
    fputs(usage, stderr);
    return 2;
  }
  return -1;
}

int Fail(const std::string& message) {
  fprintf(stderr, "memtrace: %s\n", message.c_str());
  return 2;
}

std::string SelfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string path(buf);
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string LibraryPath() {
  if (const char* env = getenv("MEMTRACE_LIB")) return env;
  return SelfDir() + "/libmemtrace.so";
}

pid_t g_child = -1;

void Forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

std::string ReadFile(const std::string& path);

// Waits for the watcher's verdict on the command that just ended (while its
// watcher is still writing the final report) and returns the gate's exit
// code, or -1. Nothing to wait for if the command was never traced.
int AwaitVerdict(const std::string& path) {
  for (int waited_ms = 0; waited_ms < 120000; waited_ms += 10) {
    std::string text = ReadFile(path);
    if (text.empty()) return -1;  // never traced (a static program, MEMTRACE_ENABLE=0)
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return -1;
    if (j.value("state", "") == "done") {
      int code = j.value("gate_exit_code", -1);
      if (code > 0) {
        fprintf(stderr, "memtrace: %llu bytes live at the end exceed the gate's threshold; exit status %d\n",
                static_cast<unsigned long long>(j.value("live_bytes", 0ull)), code);
      }
      return code;
    }
    int watcher = j.value("watcher_pid", 0);
    if (watcher <= 0 || (kill(watcher, 0) != 0 && errno == ESRCH)) return -1;  // it died without a verdict
    timespec ts{0, 10000000};
    nanosleep(&ts, nullptr);
  }
  fprintf(stderr, "memtrace: run: no verdict from the watcher after 120 s\n");
  return -1;
}

int Run(const std::vector<std::string>& args) {
  if (int rc = Usage(args, kRunUsage, 0); rc >= 0) return rc;
  std::vector<std::pair<std::string, std::string>> env;
  std::string gate_code = "23";
  bool gate = false;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= args.size()) return Fail(absl::StrCat("run: ", a, " needs a value (see memtrace run --help)"));
    if (a == "--output") env.emplace_back("MEMTRACE_OUTPUT", args[++i]);
    else if (a == "--interval") env.emplace_back("MEMTRACE_INTERVAL", args[++i]);
    else if (a == "--gate") {
      if (!ParseByteSize(args[i + 1])) return Fail(absl::StrCat("run: bad --gate value '", args[i + 1], "'"));
      env.emplace_back("MEMTRACE_LEAK_THRESHOLD", args[++i]);
      gate = true;
    } else if (a == "--gate-code") gate_code = args[++i];
    else return Fail(absl::StrCat("run: unknown option ", a, " (see memtrace run --help)"));
  }
  if (i >= args.size()) return Fail("run: no command given (memtrace run [options] -- command args...)");
  if (gate) env.emplace_back("MEMTRACE_LEAK_EXIT_CODE", gate_code);
  std::string lib = LibraryPath();
  if (access(lib.c_str(), R_OK) != 0) return Fail(absl::StrCat("run: cannot read ", lib, " (set MEMTRACE_LIB)"));
  const char* old_preload = getenv("LD_PRELOAD");
  env.emplace_back("LD_PRELOAD", old_preload != nullptr && *old_preload ? lib + ":" + old_preload : lib);

  std::vector<char*> argv;
  for (size_t k = i; k < args.size(); ++k) argv.push_back(const_cast<char*>(args[k].c_str()));
  argv.push_back(nullptr);
  // The watcher leaves the final verdict here, however the command ends
  // (the gate for a command killed by a signal or leaving through exit_group).
  char result_dir[] = "/tmp/memtrace-run-XXXXXX";
  std::string result;
  if (mkdtemp(result_dir) != nullptr) result = absl::StrCat(result_dir, "/result.json");
  g_child = fork();
  if (g_child < 0) return Fail(absl::StrCat("run: fork: ", strerror(errno)));
  if (g_child == 0) {
    for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    if (!result.empty()) setenv("MEMTRACE_RUN_RESULT", result.c_str(), 1);
    setenv("MEMTRACE_GATE_PID", std::to_string(getpid()).c_str(), 1);  // the gate is this process's
    execvp(argv[0], argv.data());
    fprintf(stderr, "memtrace: run: cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR2}) signal(sig, Forward);
  int status = 0;
  while (waitpid(g_child, &status, 0) < 0) {
    if (errno != EINTR) return Fail(absl::StrCat("run: waitpid: ", strerror(errno)));
  }
  int verdict = result.empty() ? -1 : AwaitVerdict(result);
  if (!result.empty()) {
    unlink(result.c_str());
    rmdir(result_dir);
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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Dump(const std::vector<std::string>& args) {
  if (int rc = Usage(args, kDumpUsage, 1); rc >= 0) return rc;
  int pid = 0;
  if (!absl::SimpleAtoi(args[0], &pid) || pid <= 0) return Fail(absl::StrCat("dump: '", args[0], "' is not a pid"));
  std::string output;
  double timeout = 10;
  bool use_signal = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--output" && i + 1 < args.size()) output = args[++i];
    else if (args[i] == "--timeout" && i + 1 < args.size()) {
      if (!absl::SimpleAtod(args[++i], &timeout)) return Fail("dump: bad --timeout");
    } else if (args[i] == "--signal") use_signal = true;
    else return Fail(absl::StrCat("dump: unknown option ", args[i], " (see memtrace dump --help)"));
  }
  struct stat st{};
  if (stat(absl::StrCat("/proc/", pid).c_str(), &st) != 0) {
    fprintf(stderr, "memtrace: dump: no process %d\n", pid);
    return 1;
  }
  if (st.st_uid != geteuid()) {
    fprintf(stderr, "memtrace: dump: process %d belongs to another user\n", pid);
    return 1;
  }
  if (!absl::StrContains(ReadFile(absl::StrCat("/proc/", pid, "/maps")), "libmemtrace.so")) {
    fprintf(stderr, "memtrace: dump: process %d is not traced (libmemtrace.so is not loaded in it)\n", pid);
    return 1;
  }
  std::string dir_setting = ProcessEnv(pid, "MEMTRACE_CONTROL_DIR");
  std::string dir = dir_setting.empty() ? ControlFile::DefaultDir() : dir_setting;
  if (dir_setting == "none") use_signal = true;
  std::string last = absl::StrCat(dir, "/", pid, ".last");
  struct stat before{};
  bool had_last = stat(last.c_str(), &before) == 0;
  if (use_signal) {
    int signo = SIGUSR2;
    std::string s = ProcessEnv(pid, "MEMTRACE_SIGNAL");
    if (!s.empty()) {
      auto parsed = ParseSignal(s);
      if (!parsed || *parsed == 0) return Fail(absl::StrCat("dump: process ", pid, " has no report signal"));
      signo = *parsed;
    }
    // Queued with our cookie: the tracer's handler answers it even when the
    // program owns the signal (its handler then does not run).
    union sigval value;
    value.sival_int = signal_trigger::kCookie;
    if (sigqueue(pid, signo, value) != 0) return Fail(absl::StrCat("dump: sigqueue: ", strerror(errno)));
    if (dir_setting == "none") {
      printf("sent signal %d to %d; the report goes to its MEMTRACE_OUTPUT\n", signo, pid);
      return 0;
    }
  } else {
    std::string tmp = absl::StrCat(dir, "/", pid, ".dump.", getpid());
    {
      std::ofstream out(tmp);
      out << output;
    }
    if (rename(tmp.c_str(), absl::StrCat(dir, "/", pid, ".dump").c_str()) != 0) {
      unlink(tmp.c_str());
      return Fail(absl::StrCat("dump: cannot write to ", dir, ": ", strerror(errno)));
    }
  }
  // Wait for the process to record where the report went.
  for (double waited = 0; waited < timeout; waited += 0.05) {
    struct stat now{};
    if (stat(last.c_str(), &now) == 0 &&
        (!had_last || now.st_mtim.tv_sec != before.st_mtim.tv_sec || now.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
         now.st_ino != before.st_ino)) {
      std::string where = ReadFile(last);
      while (!where.empty() && where.back() == '\n') where.pop_back();
      printf("report written to %s\n", where.c_str());
      return 0;
    }
    timespec ts{0, 50000000};
    nanosleep(&ts, nullptr);
  }
  fprintf(stderr, "memtrace: dump: process %d did not answer within %.0f s\n", pid, timeout);
  return 1;
}

int Report(const std::vector<std::string>& args) {
  if (int rc = Usage(args, kReportUsage, 1); rc >= 0) return rc;
  int top = 10;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--top" && i + 1 < args.size() && absl::SimpleAtoi(args[i + 1], &top)) ++i;
    else return Fail(absl::StrCat("report: unknown option ", args[i]));
  }
  absl::StatusOr<ReportDoc> doc = ReadJsonReport(args[0]);
  if (!doc.ok()) return Fail(std::string(doc.status().message()));
  fputs(RenderTextReport(*doc, ReportOptions{top}).c_str(), stdout);
  return 0;
}

int Diff(const std::vector<std::string>& args) {
  if (int rc = Usage(args, kDiffUsage, 2); rc >= 0) return rc;
  int top = 20;
  bool json = false;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--top" && i + 1 < args.size() && absl::SimpleAtoi(args[i + 1], &top)) ++i;
    else if (args[i] == "--json") json = true;
    else return Fail(absl::StrCat("diff: unknown option ", args[i]));
  }
  absl::StatusOr<ReportDoc> a = ReadJsonReport(args[0]);
  if (!a.ok()) return Fail(std::string(a.status().message()));
  absl::StatusOr<ReportDoc> b = ReadJsonReport(args[1]);
  if (!b.ok()) return Fail(std::string(b.status().message()));
  std::vector<SiteDiff> diffs = DiffReports(*a, *b);
  fputs((json ? RenderDiffJson(*a, *b, diffs) : RenderDiffText(*a, *b, diffs, top)).c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace memtrace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    fputs(memtrace::kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "run") return memtrace::Run(args);
  if (cmd == "dump") return memtrace::Dump(args);
  if (cmd == "report") return memtrace::Report(args);
  if (cmd == "diff") return memtrace::Diff(args);
  fprintf(stderr, "memtrace: unknown command '%s'\n\n%s", cmd.c_str(), memtrace::kUsage);
  return 2;
}
