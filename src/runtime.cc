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
namespace {

Config* g_config = nullptr;
alignas(Config) unsigned char g_config_storage[sizeof(Config)];
Flusher* g_flusher = nullptr;
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

void WriteReport(const Snapshot& snapshot) {
  Symbolizer symbolizer;
  std::string doc = g_config->format == ReportFormat::kJson
                        ? FormatJsonReport(snapshot, symbolizer)
                        : FormatTextReport(snapshot, symbolizer, ReportOptions{g_config->top});
  if (g_config->output.empty()) {
    WriteToStderr(doc);
    return;
  }
  std::string path = ExpandOutputPath(g_config->output, getpid(), getpid() != g_start_pid);
  absl::Status st = WriteReportFile(path, doc);
  if (st.ok()) {
    MEMTRACE_LOG_INFO("report written to %s", path.c_str());
  } else {
    MEMTRACE_LOG_ERROR("cannot write the report (%s); writing it to stderr", std::string(st.message()).c_str());
    WriteToStderr(doc);
  }
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
