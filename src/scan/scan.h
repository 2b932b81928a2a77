// The reachability scan: which live blocks of a process are still reachable,
// and which are lost, classified as Valgrind memcheck does (definite,
// indirect, possible, reachable), plus which thread alone holds reachable
// memory. Runs in another process (the watcher): it stops every thread of the
// target with ptrace, reads its memory with process_vm_readv or
// /proc/PID/mem, and lets it run again before the graph passes.
//
//   memtrace::scan::ScanTarget target{.pid = pid, .tracer_ranges = ...};
//   auto result = memtrace::scan::Scan(target, blocks, {});
//   if (result.ok()) ... result->blocks[i].kind, result->totals ...
//
// Algorithm and the comparison with memcheck: docs/leak-kinds.md.
#pragma once

#include <sys/types.h>

#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "src/scan/maps.h"
#include "src/scan/memory_reader.h"
#include "src/scan/roots.h"
#include "src/scan/scan_types.h"
#include "src/scan/stop_world.h"

namespace memtrace::scan {

struct ScanTarget {
  pid_t pid = 0;
  // The tracer's own memory in the target (rings, stack depot, its bootstrap
  // arena): never a root, never scanned.
  std::vector<AddressRange> tracer_ranges;
  // glibc's static TLS size with the thread descriptor, as the target's
  // _dl_get_tls_static_info says; 0: estimated (roots.h).
  uint64_t static_tls_size = 0;
  // Threads whose stack is scanned only from a given address up (see
  // ThreadSnapshot::scan_from): the thread running exit(), for the scan at
  // exit, from the stack pointer it had on entering exit().
  struct StackFloor {
    pid_t tid;
    uint64_t sp;
  };
  std::vector<StackFloor> stack_floors;
};

struct ScanOptions {
  uint32_t heuristics = kAllHeuristics;     // memcheck's default: all
  bool untracked_mappings_are_roots = true;  // memcheck: yes; LeakSanitizer: no
  bool attribute_holders = true;             // who holds reachable blocks
  StopOptions stop;
  size_t read_chunk_bytes = 4 << 20;
  int read_threads = 2;  // threads reading and scanning blocks (the target is stopped: its CPUs are free)
  ProcessMemoryReader::Method read_method = ProcessMemoryReader::Method::kProcessVmReadv;
  // Blocks (by address) to explain: every pointer into them is reported in
  // ScanResult::explained, with where it was found.
  std::vector<uint64_t> explain;
};

// Stops the target, scans, resumes it, classifies.
absl::StatusOr<ScanResult> Scan(const ScanTarget& target, std::span<const Block> blocks, const ScanOptions& options);

// For a caller that takes its blocks after stopping the world (the watcher
// must drain the rings of the stopped threads first): scans `world`, resumes
// it as soon as memory has been read.
absl::StatusOr<ScanResult> ScanStopped(StoppedWorld& world, const ScanTarget& target, std::span<const Block> blocks,
                                       const ScanOptions& options);

// The part that needs no ptrace: memory through `reader`, mappings and threads
// given. `resume` runs once nothing more is read from the target. Unit tests
// drive this with a fake reader.
ScanResult ClassifyMemory(std::span<const Block> blocks, const std::vector<Mapping>& maps,
                          std::span<const ThreadSnapshot> threads, MemoryReader& reader, const ScanTarget& target,
                          const ScanOptions& options, const std::function<void()>& resume);

}  // namespace memtrace::scan
