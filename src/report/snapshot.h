// A snapshot: the flusher's tables copied at one instant (exit, and later
// signals and intervals). Reporters read only this; they never touch rings or
// live tables, so a report can be formatted without holding the flusher.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/capture/stack_depot.h"
#include "src/flush/heap_table.h"
#include "src/flush/site_table.h"
#include "src/report/report_types.h"

namespace memtrace {

struct FileShare {
  std::string path;  // from /proc/self/maps at the snapshot
  uint64_t live_bytes = 0;
};

struct SiteEntry {
  const StackRecord* stack;  // interned forever; null: stack unavailable
  Space space;
  SiteStats stats;
  std::vector<FileShare> files;  // file mappings: bytes per file
  int64_t growth_bytes = 0;      // live bytes/blocks since the previous report
  int64_t growth_blocks = 0;
  std::vector<std::pair<uint64_t, uint64_t>> threads;  // (tid, live bytes), most first
  int device = -1;  // CUDA device ordinal for device/managed memory, else -1
  std::optional<LeakKinds> leak_kinds;  // unset: not classified
  std::optional<MappingCost> cost;      // mappings: reserved/committed/resident; unset: not measured
  std::string label;                    // e.g. "pymalloc arena", "Go heap"; empty: none
};

struct DeviceTotals {
  int ordinal;
  uint64_t live_bytes, live_blocks;
};

// Which CUDA layers traced this process, and why not.
struct CudaStatus {
  bool runtime_hooks = false;  // a CUDA runtime (libcudart) was found behind our cuda* hooks
  bool cupti = false;          // driver-API callbacks subscribed through CUPTI
  std::string reason = "no CUDA runtime or driver has been used by this process";
};

struct ThreadEntry {
  uint64_t tid = 0;
  uint32_t serial = 0;
  std::string name;
  const char* state = "alive";  // "alive", "exited", "exited_unjoined"
  uint64_t parent_tid = 0;      // 0: unknown (the main thread, or created before tracing)
  bool orphan = false;          // alive, and its creator has exited
  bool main = false;
  bool detached = false, joined = false;
  const StackRecord* creator = nullptr;  // where pthread_create was called
  uint64_t start_routine = 0;
  uint64_t stack_size = 0;
  double created_s = 0, exited_s = -1;  // seconds since tracing began; -1: alive
  uint64_t live_bytes = 0, live_blocks = 0, alloc_bytes = 0;
  bool predates_tracing = false;  // already running when tracing began
  // Reachable (or possibly reachable) memory that only this thread's stack,
  // registers or TLS reach: a parked worker holding it. Unset: no scan.
  std::optional<LeakCount> holds_reachable;
};

// Threads grouped by the call site that created them.
struct CreatorEntry {
  const StackRecord* creator = nullptr;  // null: not created through pthread_create while traced
  uint64_t created = 0, alive = 0, exited = 0, exited_unjoined = 0;
  uint64_t live_bytes = 0, exited_live_bytes = 0;
  // Live memory of this creator's exited threads, by allocation site.
  struct BySite {
    const StackRecord* stack;
    Space space;
    uint64_t live_bytes;
  };
  std::vector<BySite> exited_by_site;
};

// Threads that share a start routine and a parent (e.g. one OpenMP pool):
// complete counts, whether or not each thread is listed.
struct ThreadGroup {
  uint64_t start_routine = 0;
  uint64_t parent_tid = 0;
  const char* parent_state = "exited";  // "alive", "exited", "exited_unjoined"
  uint64_t parent_live_bytes = 0;
  uint64_t threads = 0, alive = 0, live_bytes = 0;
};

struct ThreadTotals {
  uint64_t seen = 0, alive = 0, exited = 0, exited_unjoined = 0, orphans = 0;
  uint64_t unjoined_stack_bytes = 0;       // stacks of exited, unjoined threads: never reclaimed
  uint64_t exited_thread_live_bytes = 0;   // live memory allocated by threads that have exited
  uint64_t listed = 0, omitted = 0;        // `threads` lists at most kMaxListedThreads
  std::optional<uint64_t> predating;       // threads already running when tracing began; unset: not recorded
};

// One point of the timeline: tracked memory next to what the OS and glibc
// see, so the gap between them is explained rather than guessed.
struct TimelinePoint {
  double t = 0;  // seconds since tracing started
  uint64_t live_bytes = 0;  // tracked, all spaces
  uint64_t space_bytes[kSpaceCount] = {};
  uint64_t rss_bytes = 0;
  // glibc's own view: measured in the program by the thread that asked for
  // this point (memtrace_dump, memtrace_mark, exit); unset otherwise (the
  // watcher, another process, cannot ask glibc).
  std::optional<uint64_t> glibc_free_bytes;     // held by glibc's arenas but free (mallinfo2 fordblks)
  std::optional<uint64_t> glibc_mmapped_bytes;  // glibc's own mmapped blocks (mallinfo2 hblkhd)
  std::optional<uint64_t> glibc_arenas;
  std::string mark;  // a phase mark (memtrace_mark), or empty
};

struct Totals {
  // Over every memory space.
  uint64_t live_bytes = 0;
  uint64_t live_blocks = 0;
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t alloc_bytes = 0;
  uint64_t peak_live_bytes = 0;
  SiteStats spaces[kSpaceCount];
  HeapCounters heap;
  uint64_t untracked_unmap_bytes = 0;  // munmap'ed bytes we never saw mapped
  // The kernel's view (/proc/self/maps): everything mapped, seen or not.
  uint64_t process_anon_bytes = 0;  // anonymous, [heap] and [stack*]
  uint64_t process_file_bytes = 0;  // backed by a file
  // Of those, what was already mapped when tracing began (predating.h);
  // unset: not recorded.
  std::optional<uint64_t> predating_anon_bytes, predating_file_bytes;
  std::optional<LeakKinds> leak_kinds;              // unset: not classified
  std::optional<MappingCost> space_cost[kSpaceCount];  // per space; unset: not measured
};

struct TracerStats {
  uint64_t events = 0;
  uint64_t ring_stalls = 0;
  uint64_t dropped_events = 0;
  uint64_t untraced_threads = 0;  // no slot was left for them
  uint64_t memory_bytes = 0;      // in the program: the shared region + the tracer's private pages
  std::optional<uint64_t> watcher_memory_bytes;  // the watcher process's resident memory
  uint64_t live_table_bytes = 0;  // of which: the tables of live blocks (heap and CUDA)
  uint64_t stacks = 0;
  uint64_t threads_seen = 0;
  std::string clock;
  std::string fence;  // how hooks publish their busy stamp (busy_fence.h)
  std::string unwinder;
  uint64_t sample_bytes = 0;      // 0: full tracing; else heap numbers are estimates
  uint64_t sample_overflows = 0;  // samples dropped: the sampled-address table was full
  std::optional<std::vector<DegradedReason>> degraded;  // unset: not counted
  std::optional<std::vector<DeepbindLibrary>> deepbind;  // unset: none was opened
};

struct Snapshot {
  std::string reason;  // "exit", "signal", "interval", "api"
  uint64_t sequence = 0;  // 1 for the first report of this process
  int pid = 0;
  uint64_t time_unix_ms = 0;
  uint64_t rss_bytes = 0;  // the process's resident set (from /proc/self/statm)
  Totals totals;
  std::vector<SiteEntry> sites;  // sites with live bytes (or all), by live bytes descending
  TracerStats tracer;
  std::vector<TimelinePoint> timeline;
  std::vector<ThreadEntry> threads;  // alive, unjoined, or holding memory; most memory first
  std::vector<CreatorEntry> creators;  // most live memory first
  std::vector<ThreadGroup> groups;     // threads created through pthread_create, by (routine, parent)
  std::vector<DeviceTotals> devices;   // CUDA device memory per device
  CudaStatus cuda;
  ThreadTotals thread_totals;
  std::optional<ProcessEnd> end;  // final reports: how the process ended
  std::optional<std::vector<SuppressionUse>> suppressions_used;  // unset: no leak check ran
  std::optional<LeakScanInfo> leak_scan;                          // unset: no leak check ran
};

inline constexpr size_t kMaxListedThreads = 2000;

}  // namespace memtrace
