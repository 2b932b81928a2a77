// The shared region: the memory the traced process and its watcher share.
//
// The watcher (src/watcher/) is a child of the traced process, forked from it
// as tracing starts, that drains the per-thread rings, keeps the tables
// and writes every report, including the last one after the program died
// without running any code (SIGKILL, the OOM killer, exit_group). Everything
// both sides touch after that fork lives here: the header (requests, the
// watcher's state, counters, the shared clock counter), the slot table and
// its rings, the stack walk memos and the stack depot.
//
// Why one shared anonymous mapping made before the fork: the watcher then sees
// it at the same address, so the pointers inside it (a ring, a stack record)
// mean the same thing in both processes, with no translation; it needs no file
// descriptor in the program (nothing a `closefrom` or a `dup2` could break);
// and shared memory survives the program's death for as long as the watcher
// maps it (the OOM reaper only strips private anonymous memory). The range is
// reserved at once (MAP_NORESERVE: only touched pages cost memory) and carved
// by a bump pointer; nothing is ever unmapped while tracing, only decommitted
// (MADV_REMOVE gives a shared page back to the kernel, in both processes).
//
// A fork child starts a new region at the same address (MAP_FIXED over the
// parent's), so its own threads never write into the parent's rings.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memtrace {

inline constexpr uint64_t kRegionMagic = 0x6d656d7472616365ull;  // "memtrace"
inline constexpr uint32_t kRegionVersion = 1;

// What a request from the program to its watcher asks for.
enum class RequestKind : uint32_t {
  kNone = 0,
  kDump = 1,   // a report now (memtrace_dump): `path` or the configured output
  kMark = 2,   // a timeline point labelled `text` (memtrace_mark)
  kFinal = 3,  // the last report: the program is ending (`end_how`, `status`)
};

// How the process ended, as the final report says it.
enum class EndHow : uint32_t {
  kUnknown = 0,
  kExit = 1,       // exit() or return from main: our destructor ran
  kUnderscoreExit = 2,  // _exit()/_Exit() called by the program
  kExitGroup = 3,  // the process left without running exit handlers (Go's runtime, a raw exit_group)
  kSignal = 4,     // killed by a signal (`status` holds it)
  kWatcherLost = 5,
};

// One request in flight at a time (program threads serialize on `lock`).
struct Request {
  RequestKind kind;
  uint32_t leaks;        // kDump: with a leak check (memtrace_dump_leaks)
  EndHow end_how;
  int32_t status;        // exit status for kFinal
  uint32_t has_glibc;    // glibc's view, measured by the requesting thread
  uint64_t glibc_free_bytes, glibc_mmapped_bytes, glibc_arenas;
  uint64_t ts;           // ClockNow() at the request: events before it are included
  char text[4096];       // kDump: the path (empty: configured); kMark: the label
};

struct Response {
  int32_t rc;             // 0 ok, -1 failed
  int32_t gate_exit_code; // kFinal: the status the program must exit with (-1: its own)
  char where[4096];       // kDump: where the report went
};

// The header at the start of the region. Cross-process fields are atomics;
// the rest is written once by the program before the watcher exists.
struct alignas(64) RegionHeader {
  uint64_t magic;
  uint32_t version;
  int32_t pid;         // the traced process
  int32_t parent_pid;  // a fork child's parent (0: not a fork child)
  uint32_t forked;     // 1 in a fork child
  uint64_t base, size;
  std::atomic<uint64_t> used;         // bump offset from `base`
  std::atomic<uint64_t> decommitted;  // bytes given back and not reused
  std::atomic<uint64_t> exhausted;    // allocations refused: the region is full
  std::atomic<uint64_t> sample_overflows;  // samples the sampled-address table had no room for

  // The counter clock (clock.h), when the TSC is not used.
  alignas(64) std::atomic<uint64_t> clock_counter;

  // The watcher. `state`: 0 none, 1 starting, 2 running, 3 found gone, 4
  // gone on its own (having said why on stderr, if anything went wrong).
  alignas(64) std::atomic<int32_t> watcher_pid;
  std::atomic<uint32_t> watcher_state;
  std::atomic<uint64_t> watcher_heartbeat_ns;  // CLOCK_MONOTONIC of its last round

  // Wakes the watcher (a futex word the program increments: signal handler,
  // requests). The watcher waits on it between rounds.
  alignas(64) std::atomic<uint32_t> wake;
  std::atomic<uint32_t> signal_requests;     // report-signal deliveries
  std::atomic<uint32_t> modules_generation;  // bumped by dlopen/dlclose
  std::atomic<uint32_t> ending;              // the program started its final request
  std::atomic<uint32_t> gate;                // 1: MEMTRACE_LEAK_EXIT_CODE applies to this process
  std::atomic<uint32_t> exec_pending;        // an exec call is under way (reset if it fails)
  // Where the exiting thread's own frames end (exit() entered, or main
  // returned): the leak scan at exit reads its stack only above this.
  std::atomic<uint64_t> exit_floor_sp;
  std::atomic<int32_t> exit_floor_tid;

  // CUDA layers, as the program found them (for every report).
  alignas(64) std::atomic<uint32_t> cuda_runtime_hooks;
  std::atomic<uint32_t> cupti_active;
  std::atomic<uint32_t> cuda_reason_set;  // cuda_reason holds a reason
  char cuda_reason[256];

  // The request mailbox. `lock` is a futex mutex taken only by program threads
  // outside hooks and signal handlers; `seq` counts posted requests, `done`
  // answered ones (a futex word the requester waits on).
  alignas(64) std::atomic<uint32_t> lock;
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> done;
  Request request;
  Response response;
};

class Region {
 public:
  // Reserves and maps a fresh region of up to `bytes` (less when an address
  // space or file size limit would not allow it). False if nothing could be
  // mapped.
  bool Create(size_t bytes, int pid) noexcept;
  // In a fork child: a fresh, empty region at the same address, replacing the
  // parent's. False (and tracing must stop) if the kernel refused.
  bool RecreateInChild(int pid, int parent_pid) noexcept;

  // In the watcher's own code (libmemtrace_watcher.so, see handoff.h): the
  // program's region, already mapped at `base` (the watcher is its fork).
  void Adopt(uintptr_t base, size_t size) noexcept {
    base_ = base;
    size_ = size;
  }

  bool active() const noexcept { return base_ != 0; }
  RegionHeader* header() const noexcept { return reinterpret_cast<RegionHeader*>(base_); }
  uintptr_t base() const noexcept { return base_; }
  size_t size() const noexcept { return size_; }
  bool Contains(const void* p) const noexcept {
    return reinterpret_cast<uintptr_t>(p) - base_ < size_;
  }

  // Zero-filled memory aligned to `align` (a power of two); never freed.
  // Null when the region is full (counted in header()->exhausted).
  void* Allocate(size_t bytes, size_t align = 64) noexcept;
  // Gives [p, p + bytes) back to the kernel in both processes (page-aligned
  // inside the region); it reads as zero when touched again. False if refused.
  bool Decommit(void* p, size_t bytes) noexcept;
  // The decommitted range of `bytes` is in use again.
  void Recommitted(size_t bytes) noexcept;
  // Bytes carved and not decommitted.
  uint64_t CommittedBytes() const noexcept;

 private:
  bool MapAt(void* hint, size_t bytes, bool fixed) noexcept;
  void InitHeader(int pid, int parent_pid) noexcept;

  uintptr_t base_ = 0;
  size_t size_ = 0;
};

// Set up once by the program before the watcher is forked; the watcher's copy
// has the same base and size.
inline Region g_region;

// Memory for the tracer's structures that the watcher reads: from the region
// when there is one, else (unit tests) private pages from the kernel. Never
// freed when it came from the region.
void* SharedAllocate(size_t bytes) noexcept;
// Gives pages from SharedAllocate back to the kernel (MADV_REMOVE in the
// region, MADV_DONTNEED otherwise), accounting them as decommitted.
bool SharedDecommit(void* p, size_t bytes) noexcept;
void SharedRecommitted(void* p, size_t bytes) noexcept;

}  // namespace memtrace
