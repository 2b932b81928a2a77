// The tracer's life cycle in the host process: start in the library
// constructor, restart in fork children, final drain + report + CI gate in the
// library destructor, and the public C API. This is the only file that wires
// the layers together (capture -> flush -> report, and the triggers).
//
// Exit: our destructor runs in _dl_fini, after every atexit handler and C++
// static destructor of the program and after the destructors of the program's
// own libraries; only the libraries we depend on (libc, libstdc++, libdw, ...)
// are finalised later. Programs that end with _exit/exit_group (Go) or are
// killed never get here: live reports (signal, interval, control file) cover
// them (docs/live-reports.md).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <new>

#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/clock.h"
#include "src/capture/sampler.h"
#include "src/capture/stack_depot.h"
#include "src/capture/unwinder.h"
#include "src/config/config.h"
#include "src/flush/flusher.h"
#include "src/log.h"
#include "src/report/report_writer.h"
#include "cupti/cupti_subscriber.h"
#include "src/trigger/control_file.h"
#include "src/trigger/signal_trigger.h"

namespace memtrace {

extern bool g_track_mmap;        // interpose/mmap_hooks.cc
bool CudaRuntimeHooksActive();    // interpose/cuda_hooks.cc

namespace {

// Constructed in place in the constructor and never destroyed: hooks and the
// destructor may run after static destructors.
template <typename T>
struct Storage {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* get() { return reinterpret_cast<T*>(bytes); }
};
Storage<Config> g_config_storage;
Storage<Flusher> g_flusher_storage;
Storage<ReportWriter> g_writer_storage;
Storage<ControlFile> g_control_storage;

Config* g_config = nullptr;
Flusher* g_flusher = nullptr;
ReportWriter* g_writer = nullptr;
ControlFile* g_control = nullptr;

void ForkPrepare() {
  if (g_flusher != nullptr) g_flusher->PrepareFork();
}
void ForkParent() {
  if (g_flusher != nullptr) g_flusher->ParentAfterFork();
}
void ForkChild() {
  if (g_flusher != nullptr) g_flusher->ChildAfterFork();
}

// Reports the flusher takes itself (signal, interval, control file).
void OnFlusherSnapshot(Snapshot& snapshot, const std::string& path) {
  std::string where = g_writer->Write(snapshot, path);
  g_control->Acknowledge(where);
}

void PollTriggers(Flusher& flusher) {
  std::string path;
  if (g_control->Poll(&path)) flusher.DumpOnFlusherThread("signal", path);
  signal_trigger::CheckInstalled();
  cupti::Poll();
}

CudaStatus CudaLayers() {
  CudaStatus s;
  s.runtime_hooks = CudaRuntimeHooksActive();
  s.cupti = cupti::Active();
  s.reason = cupti::Reason();
  if (!g_config->cuda) s.reason = "CUDA tracing is off (MEMTRACE_CUDA=0)";
  return s;
}

// While the calling program thread runs tracer code outside a hook (API
// calls, exit): nothing it allocates is the program's.
struct InternalScope {
  uint32_t guard, internal;
  InternalScope() : guard(t_state.guard), internal(t_state.internal) {
    t_state.guard = 1;
    t_state.internal = 1;
  }
  ~InternalScope() {
    t_state.guard = guard;
    t_state.internal = internal;
  }
};

__attribute__((constructor)) void TracerInit() {
  if (!real::Ready()) return;  // cannot happen: the constructor runs after bootstrap
  InternalScope scope;
  {
    ParsedConfig parsed = ParseConfig(&getenv);
    SetLogLevel(parsed.config.log_level);
    for (const std::string& e : parsed.errors) MT_LOG_ERROR("%s", e.c_str());
    g_config = new (g_config_storage.get()) Config(std::move(parsed.config));
  }
  if (!g_config->enabled) return;
  g_track_mmap = g_config->track_mmap;
  ClockKind clock = SelectClock(static_cast<int>(g_config->clock));
  ClockMarkStart();
  const char* fence = BusyFenceInit(/*allow_membarrier=*/true);
  const char* unwinder = g_unwinder.Init(g_config->max_frames, g_config->cfi_unwinder);
  if (!g_slots.Init() || !g_depot.Init()) {
    MT_LOG_ERROR("cannot map the tracer's memory; tracing is off");
    return;
  }
  if (g_config->sample_bytes != 0) {
    if (g_sampled.Init()) g_sample_period = g_config->sample_bytes;
    else MT_LOG_ERROR("cannot map the sampling table; tracing every allocation");
  }
  CaptureInitThreadKey();
  g_writer = new (g_writer_storage.get()) ReportWriter(ReportWriter::Options{
      g_config->output, g_config->format, g_config->top, g_config->keep, static_cast<int>(getpid()),
      g_config->libc_lines, g_config->format_explicit, g_config->max_sites});
  g_control = new (g_control_storage.get()) ControlFile();
  g_control->Init(g_config->control_dir);
  Flusher::Options options;
  options.all_sites = g_config->all_sites;
  options.interval_ns = g_config->interval_ns;
  options.sample_period_ns = g_config->sample_period_ns;
  options.sample_bytes = g_sample_period;
  options.clock_name = clock == ClockKind::kTsc ? "tsc" : "counter";
  options.fence_name = fence;
  options.unwinder_name = unwinder;
  g_flusher = new (g_flusher_storage.get()) Flusher(&g_slots, std::move(options));
  g_flusher->set_sink(&OnFlusherSnapshot);
  g_flusher->set_poll_hook(&PollTriggers);
  g_flusher->set_cuda_status(&CudaLayers);
  cupti::Configure(g_config->cupti_path, g_config->cuda);
  pthread_atfork(&ForkPrepare, &ForkParent, &ForkChild);
  if (!g_flusher->Start()) return;
  g_tracing.store(true, std::memory_order_seq_cst);
  if (g_config->signal != 0) signal_trigger::Install(g_config->signal, g_flusher);
}

__attribute__((destructor)) void TracerFini() {
  if (g_flusher == nullptr || !g_tracing.load(std::memory_order_relaxed)) return;
  InternalScope scope;
  g_tracing.store(false, std::memory_order_seq_cst);
  g_flusher->Stop();
  g_flusher->DrainFinal(/*wait_ms=*/1000);
  Snapshot snapshot = g_flusher->TakeSnapshot("exit");
  g_writer->Write(snapshot, "");
  g_control->Cleanup();
  if (g_config->leak_exit_code.has_value() && snapshot.totals.live_bytes > g_config->leak_threshold) {
    MT_LOG_WARN("%llu bytes live at exit exceed MEMTRACE_LEAK_THRESHOLD=%llu; exit status %d",
                      static_cast<unsigned long long>(snapshot.totals.live_bytes),
                      static_cast<unsigned long long>(g_config->leak_threshold), *g_config->leak_exit_code);
    fflush(nullptr);  // what exit() would still have done for the program's streams
    _exit(*g_config->leak_exit_code);
  }
}

bool ApiUsable() {
  return g_tracing.load(std::memory_order_acquire) && g_flusher != nullptr && t_state.guard == 0;
}

}  // namespace
}  // namespace memtrace

#define MT_API extern "C" __attribute__((visibility("default")))

MT_API int memtrace_is_active(void) { return memtrace::g_tracing.load(std::memory_order_relaxed) ? 1 : 0; }

MT_API int memtrace_dump(const char* path) {
  using namespace memtrace;
  if (!ApiUsable()) return -1;
  InternalScope scope;
  Snapshot snapshot = g_flusher->SnapshotNow("api", /*wait_ms=*/1000);
  std::string where = g_writer->Write(snapshot, path != nullptr ? path : "");
  g_control->Acknowledge(where);
  return where == "stderr" && (path != nullptr || !g_config->output.empty()) ? -1 : 0;
}

MT_API void memtrace_mark(const char* label) {
  using namespace memtrace;
  if (!ApiUsable()) return;
  InternalScope scope;
  g_flusher->Mark(label != nullptr ? label : "");
}

MT_API void memtrace_pause(void) { memtrace::t_state.paused = 1; }

MT_API void memtrace_resume(void) { memtrace::t_state.paused = 0; }
