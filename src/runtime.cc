// The tracer's life cycle in the traced process: start at the first hooked
// call (src/startup.cc decides when; the two phases are here: the capture
// path, then the watcher), a fresh region in fork children, the final
// request at exit and _exit, and the public C API. This is the only file of the program's side that wires the
// layers together; everything that drains, aggregates or reports runs in the
// watcher process (src/watcher/).
//
// The rule that keeps the program safe (docs/design.md, "No wait cycle"):
// nothing the program's threads ever wait for depends on anything they hold.
// A hook waits only for ring space, which the watcher -- another process,
// taking no lock of the program's and calling nothing that could wait on it
// -- always makes, or which is given up when the watcher is gone. Requests
// (dump, mark, exit) wait with a deadline. The program keeps no tracer
// thread, no lock a fork could break, and no descriptor.
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <new>
#include <string>

#include "cupti/cupti_subscriber.h"
#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/clock.h"
#include "src/capture/futex.h"
#include "src/capture/region.h"
#include "src/capture/sampler.h"
#include "src/capture/stack_depot.h"
#include "src/capture/unwinder.h"
#include "src/config/config.h"
#include "src/capture/glibc_stats.h"
#include "src/capture/handoff.h"
#include "src/capture/os_memory.h"
#include "src/capture/predating.h"
#include "src/capture/start_info.h"
#include "src/capture/thread_state.h"
#include "src/log.h"
#include "src/trigger/signal_trigger.h"
#include "src/watcher/spawn.h"

namespace memtrace {

extern bool g_track_mmap;        // interpose/mmap_hooks.cc
void ResolveThreadHooks() noexcept;  // interpose/thread_hooks.cc
void ResolveWaitHooks() noexcept;    // interpose/wait_hooks.cc

namespace {

// Constructed in place in the constructor and never destroyed: hooks and the
// destructor may run after static destructors.
template <typename T>
struct Storage {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* get() { return reinterpret_cast<T*>(bytes); }
};
Storage<Config> g_config_storage;
Storage<std::string> g_watcher_object_storage;

Config* g_config = nullptr;
WatcherHandoff g_handoff;                 // what every watcher of this process starts from
std::string* g_watcher_object = nullptr;  // the path of libmemtrace_watcher.so
int g_pid = 0;  // this process, as the region knows it (a vfork child differs)
const char* g_clock_name = "";  // set by the capture phase, handed to the watcher
const char* g_fence_name = "";

RegionHeader* Header() { return g_region.active() ? g_region.header() : nullptr; }

// True in the process the region belongs to; false in a vfork child (which
// shares our memory until it execs or _exits, and must not touch it).
bool OwnProcess() { return g_pid != 0 && static_cast<int>(syscall(SYS_getpid)) == g_pid; }

void WakeWatcher(RegionHeader* h) {
  h->wake.fetch_add(1, std::memory_order_release);
  FutexWake(&h->wake);
}

// The report signal's handler: async-signal-safe.
void OnReportSignal() {
  RegionHeader* h = Header();
  if (h == nullptr || !OwnProcess()) return;
  h->signal_requests.fetch_add(1, std::memory_order_release);
  WakeWatcher(h);
}

// Is the watcher still there? (Asked by producers waiting for ring space,
// and by requests.) A look at its exit status that leaves it unreaped.
bool WatcherAlive() {
  RegionHeader* h = Header();
  if (h == nullptr) return false;
  uint32_t state = h->watcher_state.load(std::memory_order_acquire);
  if (state >= 3) return false;
  int pid = h->watcher_pid.load(std::memory_order_acquire);
  if (pid <= 0) return state == 1;  // being started
  if (state == 1 && watcher::StuckStarting(pid)) {
    // A fork child whose watcher waits for a lock the parent's other threads
    // held at the fork (spawn.h): it will never run. Tracing ends in this
    // process instead of leaving its threads waiting for ring space and its
    // exit for an answer (e2e.dlstress: 120 s per such child).
    if (h->watcher_state.compare_exchange_strong(state, 3, std::memory_order_acq_rel)) {
      g_tracing.store(false, std::memory_order_release);
      g_slots.SetConsumerActive(false);
      syscall(SYS_kill, pid, SIGKILL);
      // Reaped now (a killed futex sleeper exits at once): no zombie of ours
      // for a __WALL waiter to find (RuntimeWatcherPid is 0 from here on).
      syscall(SYS_wait4, pid, nullptr, __WCLONE, nullptr);
      MT_LOG_WARN("process %d: its watcher cannot start (it waits for a lock another thread held when this process "
                  "was forked); no report for this process",
                  static_cast<int>(syscall(SYS_getpid)));
    }
    return false;
  }
  // A raw system call: glibc's waitid is a cancellation point, and this runs
  // inside hooks (a producer waiting for ring space).
  siginfo_t info{};
  if (syscall(SYS_waitid, P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WCLONE, nullptr) == 0 &&
      info.si_pid == pid) {
    while (state < 3 && !h->watcher_state.compare_exchange_weak(state, 3, std::memory_order_acq_rel)) {
    }
    return false;
  }
  return true;
}

// After an exec the old image's watcher is still our child (children survive
// exec): it has nothing to report, so it goes now, before ours starts.
void RetireOldWatchers() {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/children", static_cast<int>(getpid()));
  FILE* f = fopen(path, "re");
  if (f == nullptr) return;
  int child = 0;
  while (fscanf(f, "%d", &child) == 1) {
    char comm_path[64], comm[32] = {};
    snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", child);
    FILE* c = fopen(comm_path, "re");
    if (c == nullptr) continue;
    bool ours = fgets(comm, sizeof(comm), c) != nullptr && strncmp(comm, "memtrace-watch", 14) == 0;
    fclose(c);
    if (!ours) continue;
    kill(child, SIGKILL);
    int st = 0;
    waitpid(child, &st, __WCLONE);
  }
  fclose(f);
}

// `memtrace run` waits for the watcher's verdict while it lives: a small file
// written whole and renamed into place (after an exec this replaces the old
// image's entry), in the command's private directory. The one file the
// program itself writes: it cannot link safe_file.h (no abseil here), so the
// temporary is at least created exclusively, never reused.
void WriteRunMarker(const char* path, int watcher_pid) {
  char buf[128];
  int n = snprintf(buf, sizeof(buf), "{\"pid\": %d, \"watcher_pid\": %d, \"state\": \"running\"}\n", g_pid,
                   watcher_pid);
  std::string tmp = std::string(path) + ".tmp." + std::to_string(g_pid);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = write(fd, buf, static_cast<size_t>(n)) == n;
  close(fd);
  if (!ok || rename(tmp.c_str(), path) != 0) unlink(tmp.c_str());
}

bool StartWatcher() {
  int pid = watcher::Spawn(g_handoff, *g_watcher_object);
  if (pid < 0) return false;
  if (const char* path = getenv("MEMTRACE_RUN_RESULT"); g_handoff.gate && path != nullptr && *path != '\0') {
    WriteRunMarker(path, pid);
  }
  // Leak scans read this process's memory from the watcher (ptrace rules
  // under Yama: a process may let a given one in).
  prctl(PR_SET_PTRACER, static_cast<unsigned long>(pid), 0, 0, 0);
  return true;
}

// At each thread's registration (its first traced call). (A fork child's
// watcher is started by the start-up, at the child's first safe point.)
void OnRegister() { signal_trigger::RetakeIfReplaced(); }

// Waits (at most ~2 s) for the watcher to exit after it answered our final
// request, and reaps it, so that nothing of ours outlives the program.
void ReapWatcher() {
  RegionHeader* h = Header();
  if (h == nullptr) return;
  int pid = h->watcher_pid.load(std::memory_order_acquire);
  if (pid <= 0) return;
  for (int i = 0; i < 2000; ++i) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG | __WCLONE);
    if (r == pid || (r < 0 && errno != EINTR)) return;
    timespec ts{0, 1000000};
    syscall(SYS_nanosleep, &ts, nullptr);
  }
}

// One request to the watcher, answered within `timeout_ms` or given up.
// Program threads take turns (a futex lock in the region).
bool Ask(RequestKind kind, EndHow how, int status, const char* text, uint64_t timeout_ms, Response* out,
         bool leaks = false) {
  RegionHeader* h = Header();
  if (h == nullptr || !OwnProcess()) return false;
  uint32_t state = h->watcher_state.load(std::memory_order_acquire);
  if (state == 0 || state >= 3) return false;
  uint64_t deadline = MonotonicNanos() + timeout_ms * 1000000ull;
  uint32_t unlocked = 0;
  while (!h->lock.compare_exchange_strong(unlocked, 1, std::memory_order_acquire)) {
    if (MonotonicNanos() > deadline || !WatcherAlive()) return false;
    FutexWait(&h->lock, 1, 10000000);
    unlocked = 0;
  }
  GlibcStats glibc = ReadGlibcStats();
  Request& r = h->request;
  r.kind = kind;
  r.leaks = leaks ? 1 : 0;
  r.end_how = how;
  r.status = status;
  r.has_glibc = glibc.known ? 1 : 0;
  r.glibc_free_bytes = glibc.free_bytes;
  r.glibc_mmapped_bytes = glibc.mmapped_bytes;
  r.glibc_arenas = glibc.arenas;
  size_t n = text != nullptr ? strnlen(text, sizeof(r.text) - 1) : 0;
  if (n > 0) memcpy(r.text, text, n);
  r.text[n] = '\0';
  r.ts = ClockNow();
  uint32_t done = h->done.load(std::memory_order_acquire);
  h->seq.fetch_add(1, std::memory_order_release);
  WakeWatcher(h);
  bool answered = false;
  for (;;) {
    uint32_t now_done = h->done.load(std::memory_order_acquire);
    if (now_done != done) {
      answered = true;
      break;
    }
    if (MonotonicNanos() > deadline || !WatcherAlive()) break;
    FutexWait(&h->done, now_done, 20000000);
  }
  if (answered && out != nullptr) *out = h->response;
  // (A watcher that ended on its own has said why already.)
  if (!answered && h->watcher_state.load(std::memory_order_acquire) != 4) {
    MT_LOG_WARN("the watcher did not answer; going on without it");
  }
  h->lock.store(0, std::memory_order_release);
  FutexWake(&h->lock);
  return answered;
}

// The final request: the report, and the status the program must exit with
// (-1: its own).
int FinalRequest(EndHow how, int status) {
  RegionHeader* h = Header();
  if (h == nullptr || !OwnProcess()) return -1;
  // Events captured while the watcher waited for a safe point: the exit is
  // one (it starts only if some thread was traced).
  if (g_start_state.load(std::memory_order_acquire) == kStartCapturing) TracingStartAt(StartPoint::kExit, 0);
  if (!g_tracing.load(std::memory_order_acquire)) return -1;
  g_tracing.store(false, std::memory_order_seq_cst);
  h->ending.store(1, std::memory_order_release);
  uint32_t state = h->watcher_state.load(std::memory_order_acquire);
  if (state == 0) return -1;  // a fork child that traced nothing: nothing to report
  Response resp{};
  resp.gate_exit_code = -1;
  // Symbolizing a big program's report takes a while; a watcher that died
  // is noticed at once.
  bool ok = Ask(RequestKind::kFinal, how, status, nullptr, 120000, &resp);
  ReapWatcher();
  return ok ? resp.gate_exit_code : -1;
}

// libmemtrace's own writable segments (its globals): the tracer's memory.
int AddOwnSegments(dl_phdr_info* info, size_t, void* data) {
  auto* h = static_cast<WatcherHandoff*>(data);
  uintptr_t self = reinterpret_cast<uintptr_t>(&AddOwnSegments);
  bool ours = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) != 0 && self >= start && self < start + ph.p_memsz) ours = true;
  }
  if (!ours) return 0;
  for (int i = 0; i < info->dlpi_phnum && h->own_range_count < static_cast<int>(std::size(h->own_ranges)); ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) == 0) continue;
    uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & ~uintptr_t{4095};
    uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + 4095) & ~uintptr_t{4095};
    h->own_ranges[h->own_range_count++] = OsRange{start, end};
  }
  return 1;
}

// What every watcher of this process starts from (handoff.h).
void FillHandoff(const char* clock_name, const char* fence_name, const char* unwinder_name, bool gate) {
  WatcherHandoff& h = g_handoff;
  h.config = g_config;
  h.region_base = g_region.base();
  h.region_size = g_region.size();
  h.slots = &g_slots;
  h.depot = &g_depot;
  h.clock_kind = g_clock.kind.load(std::memory_order_relaxed);
  ClockStart(&h.clock_start_ts, &h.clock_start_ns);
  h.light_busy_stamp = g_light_busy_stamp.load(std::memory_order_relaxed);
  h.gate = gate;
  h.clock_name = clock_name;
  h.fence_name = fence_name;
  h.unwinder_name = unwinder_name;
  h.start_info = g_start_info;
  h.tracer_modules = &g_tracer_modules;
  h.predating = &g_predating;
  h.own_range_count = OsRanges(h.own_ranges);
  auto arena = reinterpret_cast<uintptr_t>(real::g_arena);
  h.own_ranges[h.own_range_count++] = OsRange{arena, arena + real::kArenaBytes};
  dl_iterate_phdr(&AddOwnSegments, &h);
  int64_t own_heap = std::max<int64_t>(0, g_internal_heap_bytes.bytes.load(std::memory_order_relaxed));
  h.private_bytes = OsCommittedBytes() + static_cast<uint64_t>(own_heap);
}

// True if process `pid` has libmemtrace mapped (it is traced).
bool Traced(int pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/maps", pid);
  FILE* f = fopen(path, "re");
  if (f == nullptr) return false;
  char line[4096];
  bool traced = false;
  // Its code mapped executable: a debugger that maps the file to read its
  // symbols (gdb does) is not traced.
  while (!traced && fgets(line, sizeof(line), f) != nullptr) {
    const char* perms = strchr(line, ' ');
    traced = strstr(line, "/libmemtrace.so") != nullptr && perms != nullptr && perms[1] != '\0' && perms[2] != '\0' &&
             perms[3] == 'x';
  }
  fclose(f);
  return traced;
}

// The gate applies to the process started under the tracer, not to its
// descendants (`sh -c 'ls; echo $?'` must print ls's own status): `memtrace
// run` names its child in MEMTRACE_GATE_PID; otherwise the process whose
// parent is not traced is the one started under the tracer. An exec keeps
// the pid and the parent, and the gate. (The environment is not touched: a
// variable set here would be an allocation of ours inside glibc's
// environment, where the program's own setenv calls would hang theirs.)
bool StartedUnderTheTracer() {
  if (const char* owner = getenv("MEMTRACE_GATE_PID"); owner != nullptr && *owner != '\0') {
    return atoi(owner) == static_cast<int>(getpid());
  }
  return !Traced(static_cast<int>(getppid()));
}

bool ClaimGate(const Config& c) { return c.leak_exit_code.has_value() && StartedUnderTheTracer(); }

// The start-up facts the watcher reads (start_info.h), in the region.
bool NewStartInfo(uint64_t constructor_ts) {
  void* mem = SharedAllocate(sizeof(StartInfo));
  g_start_info = mem != nullptr ? new (mem) StartInfo() : nullptr;
  if (g_start_info != nullptr) g_start_info->constructor_ts.store(constructor_ts, std::memory_order_release);
  g_handoff.start_info = g_start_info;
  return g_start_info != nullptr;
}

// The child of a fork: a fresh region, capture on, the watcher at the
// child's first safe point (most children exec or exit at once and never
// need one). Tracing began at the fork for the child: what it inherited
// predates it.
bool ResetForChild() {
  int parent = g_pid;
  g_pid = static_cast<int>(getpid());
  // The parent's region is shared with the parent (and its watcher): a fresh
  // one at the same address, an empty slot table and depot in it.
  g_predating.Record();
  if (!g_region.RecreateInChild(g_pid, parent) || !g_slots.Reset() || !g_depot.Init() || !NewStartInfo(0)) return false;
  ClockUseCounter(&g_region.header()->clock_counter);
  ClockMarkStart();
  BusyFenceAfterFork();
  CaptureForgetSlotAfterFork();
  g_handoff.gate = false;  // children are never gated
  g_region.header()->gate.store(0, std::memory_order_relaxed);
  uint64_t start_ts = 0, start_ns = 0;
  ClockStart(&start_ts, &start_ns);
  g_handoff.clock_start_ts = start_ts;
  g_handoff.clock_start_ns = start_ns;
  g_handoff.light_busy_stamp = g_light_busy_stamp.load(std::memory_order_relaxed);
  return true;
}

void ForkChild() {
  if (g_config == nullptr || !g_tracing.load(std::memory_order_relaxed)) return;
  TracerCodeScope scope;
  g_tracing.store(false, std::memory_order_relaxed);
  g_start_state.store(ResetForChild() ? kStartCapturing : kStartOff, std::memory_order_release);
}

bool g_started_once = false;  // the first watcher start of this image (not a fork child's)

// Tracing starts at the first hooked call (src/startup.cc), or here, in the
// library's constructor, whichever comes first; the constructor is a safe
// point for the watcher.
__attribute__((constructor)) void TracerInit() {
  TracingStartAt(StartPoint::kSafe, 0);
  // From here on no dependency of ours initialises itself: what is allocated
  // is the program's (start_info.h).
  if (g_start_info != nullptr) g_start_info->constructor_ts.store(ClockNow(), std::memory_order_release);
}

bool Tracing() {
  uint32_t state = g_start_state.load(std::memory_order_acquire);
  return g_config != nullptr && (g_tracing.load(std::memory_order_relaxed) || state == kStartCapturing);
}

__attribute__((destructor)) void TracerFini() {
  if (!Tracing() || !OwnProcess()) return;
  TracerCodeScope scope;
  int code = FinalRequest(EndHow::kExit, -1);
  if (code >= 0) {
    fflush(nullptr);  // what exit() would still have done for the program's streams
    syscall(SYS_exit_group, code);
  }
}

bool ApiUsable() { return g_tracing.load(std::memory_order_acquire) && t_state.guard == 0 && OwnProcess(); }

}  // namespace

// The start-up's first phase (src/startup.cc): the capture path, from inside
// whatever hook came first. Nothing here may load a library, take a lock a
// caller could hold, or fork: config, the shared region, clock, fence, the
// early unwinder, slots, depot, sampler, and what predates tracing.
bool RuntimeInitCapture() noexcept {
  if (getauxval(AT_SECURE) != 0) {
    // Secure-execution mode (setuid, setgid, file capabilities): the
    // environment is the unprivileged caller's, so none of it is read -- not
    // even MEMTRACE_ENABLE or MEMTRACE_LOG -- and nothing is traced: a report
    // would show the caller a privileged process's memory and layout, and
    // any file it wrote would be written with privileges the caller lacks.
    // glibc ignores its own unsafe variables here; we ignore all of ours.
    // One line says why (docs/security.md).
    MT_LOG_WARN("secure-execution mode (setuid, setgid or capabilities): tracing is off");
    return false;
  }
  try {
    ParsedConfig parsed = ParseConfig(&getenv);
    SetLogLevel(parsed.config.log_level);
    for (const std::string& e : parsed.errors) MT_LOG_ERROR("%s", e.c_str());
    g_config = new (g_config_storage.get()) Config(std::move(parsed.config));
  } catch (...) {
    return false;  // out of memory at start-up: no tracing
  }
  if (!g_config->enabled) return false;
  g_track_mmap = g_config->track_mmap;
  g_pid = static_cast<int>(syscall(SYS_getpid));
  g_predating.Record();  // before the region: it is ours, not the program's
  if (!g_region.Create(0, g_pid)) {
    MT_LOG_ERROR("cannot map the tracer's shared memory; tracing is off");
    return false;
  }
  g_clock_name = SelectClock(static_cast<int>(g_config->clock)) == ClockKind::kTsc ? "tsc" : "counter";
  ClockUseCounter(&g_region.header()->clock_counter);
  ClockMarkStart();
  g_fence_name = BusyFenceInit(/*allow_membarrier=*/true);
  g_unwinder.InitEarly(g_config->max_frames);
  if (!g_slots.Init() || !g_depot.Init() || !NewStartInfo(UINT64_MAX)) {
    MT_LOG_ERROR("cannot map the tracer's memory; tracing is off");
    return false;
  }
  g_slots.SetConsumerAliveCheck(&WatcherAlive);
  if (g_config->sample_bytes != 0) {
    if (g_sampled.Init()) g_sample_period = g_config->sample_bytes;
    else MT_LOG_ERROR("cannot map the sampling table; tracing every allocation");
  }
  CaptureInitThreadKey();
  cupti::Configure(g_config->cupti_path, g_config->cuda);
  return true;
}

// The second phase, at a safe point (src/startup.cc): the watcher object,
// the full unwinder, the gate, the fork handler, the watcher, then tracing is
// on; in a fork child, only the watcher (the rest is inherited).
bool RuntimeStartWatcher() noexcept {
  bool first = !g_started_once;
  if (first) {
    g_watcher_object = new (g_watcher_object_storage.get()) std::string(watcher::FindWatcherObject());
    if (g_watcher_object->empty()) return false;
    const char* unwinder = g_unwinder.Init(g_config->max_frames, g_config->cfi_unwinder);
    bool gate = ClaimGate(*g_config);
    g_region.header()->gate.store(gate ? 1 : 0, std::memory_order_relaxed);
    FillHandoff(g_clock_name, g_fence_name, unwinder, gate);
    // MEMTRACE_OUTPUT's names as written belong to the process started under
    // the tracer (the gate's rule): a program a traced process started -- a
    // new image with another pid, `sh -c 'prog1; prog2'` -- adds ".PID" to
    // outputs without %p, as a forked child does (docs/security.md).
    g_handoff.owns_report_names = g_config->output.empty() || StartedUnderTheTracer();
    pthread_atfork(nullptr, nullptr, &ForkChild);
    RetireOldWatchers();
  }
  if (!StartWatcher()) return false;
  g_started_once = true;
  g_tracing.store(true, std::memory_order_seq_cst);
  g_register_hook.store(&OnRegister, std::memory_order_release);
  if (first) {
    if (g_config->signal != 0) signal_trigger::Install(g_config->signal, &OnReportSignal);
    cupti::Poll();  // a program linked with libcuda has it loaded already
    ResolveThreadHooks();
    ResolveWaitHooks();
    // Our dl* calls leave this thread's dlerror() state allocated (a failed
    // NOLOAD probe): free it now, inside our scope, not at the program's next
    // dl* call.
    dlerror();
    dlerror();
  }
  return true;
}

// While the watcher waits (kStartCapturing) no fork handler is installed
// yet: a hook in the child of such a fork finds itself in another process and
// resets the child here. True if it did.
bool RuntimeForkedWhileCapturing() noexcept {
  if (g_pid == 0 || static_cast<int>(syscall(SYS_getpid)) == g_pid) return false;
  if (!ResetForChild()) g_start_state.store(kStartOff, std::memory_order_release);
  return true;
}

void RuntimeExitFloor(uint64_t sp) noexcept {
  RegionHeader* h = Header();
  if (h == nullptr || !OwnProcess()) return;
  h->exit_floor_sp.store(sp, std::memory_order_relaxed);
  h->exit_floor_tid.store(static_cast<int32_t>(syscall(SYS_gettid)), std::memory_order_release);
}

int RuntimeWatcherPid() noexcept {
  RegionHeader* h = Header();
  if (h == nullptr || !OwnProcess()) return 0;
  uint32_t state = h->watcher_state.load(std::memory_order_acquire);
  if (state != 1 && state != 2) return 0;
  return h->watcher_pid.load(std::memory_order_acquire);
}

void RuntimeExecStarting(bool starting) noexcept {
  RegionHeader* h = Header();
  if (h == nullptr || !OwnProcess()) return;  // a vfork child shares its parent's region
  h->exec_pending.store(starting ? 1 : 0, std::memory_order_release);
}

int RuntimeBeforeUnderscoreExit(int status) noexcept {
  if (!Tracing() || !OwnProcess()) return status;
  TracerCodeScope scope;
  int code = FinalRequest(EndHow::kUnderscoreExit, status);
  return code >= 0 ? code : status;
}

}  // namespace memtrace

#define MT_API extern "C" __attribute__((visibility("default")))

MT_API int memtrace_is_active(void) { return memtrace::g_tracing.load(std::memory_order_relaxed) ? 1 : 0; }

namespace memtrace {
namespace {
int Dump(const char* path, bool leaks) {
  if (!ApiUsable()) return -1;
  TracerCodeScope scope;
  Response resp{};
  if (!Ask(RequestKind::kDump, EndHow::kUnknown, 0, path, 60000, &resp, leaks)) return -1;
  // -1 if the report could not go where it was asked to (it went to stderr).
  std::string where(resp.where, strnlen(resp.where, sizeof(resp.where)));
  if (resp.rc != 0) return -1;
  return where == "stderr" && (path != nullptr || !g_config->output.empty()) ? -1 : 0;
}
}  // namespace
}  // namespace memtrace

MT_API int memtrace_dump(const char* path) { return memtrace::Dump(path, false); }

MT_API int memtrace_dump_leaks(const char* path) { return memtrace::Dump(path, true); }

MT_API void memtrace_mark(const char* label) {
  using namespace memtrace;
  if (!ApiUsable()) return;
  TracerCodeScope scope;
  Ask(RequestKind::kMark, EndHow::kUnknown, 0, label != nullptr ? label : "", 10000, nullptr);
}

MT_API void memtrace_pause(void) { memtrace::t_state.paused |= memtrace::kPausedByUser; }

MT_API void memtrace_resume(void) { memtrace::t_state.paused &= ~memtrace::kPausedByUser; }
