// The root set: which memory of the stopped target is scanned for pointers
// before any block is. memcheck scans every readable and writable client
// mapping (files, anonymous memory, shared memory; not devices other than
// /dev/zero) except its own heap, every word that is addressable and defined,
// and the general-purpose registers of every thread. Below a thread's stack
// pointer (past the 128-byte red zone) nothing is addressable for it.
//
// Here, from /proc/PID/maps and the stopped threads:
//   - a live thread's stack: from sp (sp - 128, the red zone, for a thread
//     stopped outside a system call) to the top of its mapping (glibc puts
//     the thread descriptor and static TLS there); held by that thread;
//   - a live thread's static TLS and descriptor where they are not on its
//     stack (the main thread's: in the loader's memory); held by that thread;
//   - an exited thread's stack that glibc keeps cached: only its static TLS
//     and descriptor (what lies above the stack it ran on); its old frames are
//     garbage, and memcheck does not read them either;
//   - every other readable and writable mapping, whole (module data and bss,
//     files, shared memory, anonymous memory the hooks did not see);
//   - blocks flagged kBlockRoot (a runtime's heap or stacks), whole;
// never: the tracer's own memory, the blocks themselves (they are scanned only
// once reached), glibc's heap (the brk heap and the arenas' heaps: free chunks
// hold stale pointers; valgrind keeps its client heap out of the root set the
// same way), device mappings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "src/scan/block_index.h"
#include "src/scan/maps.h"
#include "src/scan/memory_reader.h"
#include "src/scan/scan_types.h"

namespace memtrace::scan {

// A thread as the stop-the-world left it.
struct ThreadSnapshot {
  pid_t tid = 0;
  bool stopped = false;            // false: no registers; its stack is scanned whole
  uint64_t sp = 0;                 // 0 when unknown
  uint64_t tp = 0;                 // thread pointer (x86-64: fs_base); 0 when unknown
  // Stopped inside a system call (a parked thread): nothing live lies below
  // its stack pointer, so the red zone is not scanned; what is there is left
  // over from earlier calls (a parked OpenMP worker's red zone held a
  // pointer into the work it last did). A thread stopped in its own code may
  // keep live values in a leaf function's red zone: scanned.
  bool in_syscall = false;
  // Where its stack is scanned from, when not from sp - 128: a thread inside
  // the exit machinery is scanned from the stack pointer it had when it
  // called exit() (below are exit's, _dl_fini's and the tracer's frames,
  // whose unwritten slots hold stale values of the program's old calls;
  // memcheck sees those as undefined and skips them).
  uint64_t scan_from = 0;
  std::vector<uint64_t> gp_regs;   // general-purpose registers (memcheck scans these)
};

struct RootRange {
  uint64_t start = 0, end = 0;
  int32_t holder = kHolderShared;  // a thread index, or kHolderShared
};

struct RootPlan {
  std::vector<RootRange> ranges;                   // disjoint, sorted by start
  std::vector<std::pair<uint64_t, int32_t>> registers;  // value, holder
  std::vector<ThreadInfo> threads;                 // parallel to the snapshots
  std::vector<std::string> notes;
};

struct RootOptions {
  // memcheck scans anonymous memory the hooks did not see; LeakSanitizer does
  // not. On (memcheck) by default.
  bool untracked_mappings_are_roots = true;
  // glibc's static TLS size including the thread descriptor
  // (_dl_get_tls_static_info); 0: estimated from the modules' PT_TLS.
  uint64_t static_tls_size = 0;
};

// Size of glibc's x86-64 thread descriptor (struct pthread, glibc 2.34+),
// which sits at the thread pointer; static TLS is below it.
inline constexpr uint64_t kThreadDescriptorSize = 2304;
// x86-64 SysV: a leaf function may use 128 bytes below the stack pointer.
inline constexpr uint64_t kRedZone = 128;

RootPlan PlanRoots(const std::vector<Mapping>& maps, std::span<const ThreadSnapshot> threads,
                   std::span<const Block> blocks, const BlockIndex& index,
                   std::span<const AddressRange> tracer_ranges, MemoryReader& reader, const RootOptions& options);

// glibc's static TLS size (with the thread descriptor), estimated from the
// PT_TLS segments of the mapped modules plus glibc's surplus for modules
// loaded later; a little above the real value, never below it by design.
uint64_t EstimateStaticTlsSize(const std::vector<Mapping>& maps);

}  // namespace memtrace::scan
