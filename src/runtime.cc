// The tracer's life cycle in the host process: start in the library
// constructor, restart in fork children, final drain + report + CI gate in the
// library destructor. This is the only file that wires the layers together.
//
// Exit: our destructor runs in _dl_fini, after every atexit handler and C++
// static destructor of the program and after the destructors of the program's
// own libraries; only the libraries we depend on (libc, libstdc++, libdw, ...)
// are finalised later. Programs that end with _exit/exit_group (Go) or are
// killed never get here (docs/limitations.md).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <new>

#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/clock.h"
#include "src/capture/stack_depot.h"
#include "src/capture/unwinder.h"
#include "src/config/config.h"
#include "src/flush/flusher.h"
#include "src/log.h"
#include "src/report/output.h"
#include "src/report/report.h"

namespace memtrace {

extern bool g_track_mmap;  // interpose/mmap_hooks.cc

namespace {

}  // namespace

// Shared with the public API functions below.
Config* g_config = nullptr;
Flusher* g_flusher = nullptr;

namespace {

alignas(Config) unsigned char g_config_storage[sizeof(Config)];
alignas(Flusher) unsigned char g_flusher_storage[sizeof(Flusher)];
int g_start_pid = 0;

void ForkPrepare() {
  if (g_flusher != nullptr) g_flusher->PrepareFork();
}
void ForkParent() {
  if (g_flusher != nullptr) g_flusher->ParentAfterFork();
}
void ForkChild() {
  if (g_flusher != nullptr) g_flusher->ChildAfterFork();
}

// Writes to `explicit_path` if given, else where MEMTRACE_OUTPUT says.
bool WriteReport(const Snapshot& snapshot, const char* explicit_path = nullptr) {
  Symbolizer symbolizer;
  ReportFormat format = g_config->format;
  if (explicit_path != nullptr) {
    size_t n = strlen(explicit_path);
    if (n >= 5 && strcasecmp(explicit_path + n - 5, ".json") == 0) format = ReportFormat::kJson;
  }
  std::string doc = format == ReportFormat::kJson
                        ? FormatJsonReport(snapshot, symbolizer)
                        : FormatTextReport(snapshot, symbolizer, ReportOptions{g_config->top});
  const std::string& pattern = explicit_path != nullptr ? std::string(explicit_path) : g_config->output;
  if (pattern.empty()) {
    WriteToStderr(doc);
    return true;
  }
  std::string path = ExpandOutputPath(pattern, getpid(), explicit_path == nullptr && getpid() != g_start_pid);
  absl::Status st = WriteReportFile(path, doc);
  if (st.ok()) {
    MEMTRACE_LOG_INFO("report written to %s", path.c_str());
    return true;
  }
  MEMTRACE_LOG_ERROR("cannot write the report (%s); writing it to stderr", std::string(st.message()).c_str());
  WriteToStderr(doc);
  return false;
}

__attribute__((constructor)) void TracerInit() {
  if (!real::Ready()) return;  // cannot happen: the constructor runs after bootstrap
  ThreadState& t = t_state;
  t.guard = 1;  // nothing the tracer allocates while starting is traced
  {
    ParsedConfig parsed = ParseConfig(&getenv);
    SetLogLevel(parsed.config.log_level);
    for (const std::string& e : parsed.errors) MEMTRACE_LOG_ERROR("%s", e.c_str());
    g_config = new (g_config_storage) Config(std::move(parsed.config));
  }
  if (!g_config->enabled) {
    t.guard = 0;
    return;
  }
  g_start_pid = getpid();
  g_track_mmap = g_config->track_mmap;
  ClockKind clock = SelectClock(static_cast<int>(g_config->clock));
  ClockMarkStart();
  const char* unwinder = g_unwinder.Init(g_config->max_frames);
  if (!g_slots.Init() || !g_depot.Init()) {
    MEMTRACE_LOG_ERROR("cannot map the tracer's memory; tracing is off");
    t.guard = 0;
    return;
  }
  CaptureInitThreadKey();
  g_flusher = new (g_flusher_storage) Flusher(&g_slots);
  g_flusher->set_backends(clock == ClockKind::kTsc ? "tsc" : "counter", unwinder);
  pthread_atfork(&ForkPrepare, &ForkParent, &ForkChild);
  if (g_flusher->Start()) g_tracing.store(true, std::memory_order_seq_cst);
  t.guard = 0;
}

__attribute__((destructor)) void TracerFini() {
  if (g_flusher == nullptr || !g_tracing.load(std::memory_order_relaxed)) return;
  ThreadState& t = t_state;
  t.guard = 1;
  t.internal = 1;
  g_tracing.store(false, std::memory_order_seq_cst);
  g_flusher->Stop();
  g_flusher->DrainFinal(/*wait_ms=*/1000);
  Snapshot snapshot = g_flusher->TakeSnapshot("exit", g_config->all_sites);
  WriteReport(snapshot);
  if (g_config->leak_exit_code.has_value() && snapshot.totals.live_bytes > g_config->leak_threshold) {
    MEMTRACE_LOG_WARN("%llu bytes live at exit exceed MEMTRACE_LEAK_THRESHOLD=%llu; exit status %d",
                      static_cast<unsigned long long>(snapshot.totals.live_bytes),
                      static_cast<unsigned long long>(g_config->leak_threshold), *g_config->leak_exit_code);
    fflush(nullptr);  // what exit() would still have done for the program's streams
    _exit(*g_config->leak_exit_code);
  }
}

}  // namespace
}  // namespace memtrace

extern "C" __attribute__((visibility("default"))) int memtrace_is_active(void) {
  return memtrace::g_tracing.load(std::memory_order_relaxed) ? 1 : 0;
}

extern "C" __attribute__((visibility("default"))) int memtrace_dump(const char* path) {
  using namespace memtrace;
  if (!g_tracing.load(std::memory_order_acquire) || g_flusher == nullptr) return -1;
  ThreadState& t = t_state;
  if (t.guard != 0) return -1;  // only from program code, never from inside a hook
  // Our own allocations while reporting are not the program's.
  t.guard = 1;
  t.internal = 1;
  Snapshot snapshot = g_flusher->SnapshotNow("api", g_config->all_sites, /*wait_ms=*/1000);
  bool ok = WriteReport(snapshot, path);
  t.internal = 0;
  t.guard = 0;
  return ok ? 0 : -1;
}
