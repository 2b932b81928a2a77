// The reachability scan's inputs and outputs (see scan.h for the entry point
// and docs/leak-kinds.md for the algorithm). Plain structs: the watcher fills
// `Block`s from its live tables and maps a `ScanResult` into the report; tests
// build them by hand.
//
// Kinds are memcheck's (memcheck/mc_leakcheck.c):
//   reachable  a root, or a block reachable from roots through start pointers
//              (or interior pointers accepted by a heuristic), points to it;
//   possible   it is reached, but only through a chain with an interior pointer;
//   indirect   not reached from roots, but pointed to by a lost block;
//   definite   the rest: nothing reached points to it.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace memtrace::scan {

enum class LeakKind : uint8_t { kReachable = 0, kPossible = 1, kIndirect = 2, kDefinite = 3 };
inline constexpr int kLeakKinds = 4;
const char* LeakKindName(LeakKind kind);  // "reachable", "possible", "indirect", "definite"

// memcheck's --leak-check-heuristics (all on by default, as in memcheck 3.19):
// an interior pointer that fits one of these counts as a start pointer.
enum Heuristic : uint8_t {
  kHeuristicNone = 0,
  kHeuristicStdString = 1,            // libstdc++'s old COW string: ptr = start + 24
  kHeuristicLength64 = 2,             // ptr = start + 8, *start == size - 8 (sqlite)
  kHeuristicNewArray = 3,             // ptr = start + 8, *start = element count (new[] with destructors)
  kHeuristicMultipleInheritance = 4,  // *ptr and *start both look like vtable pointers
};
inline constexpr int kHeuristics = 5;
inline constexpr uint32_t HeuristicBit(Heuristic h) { return 1u << h; }
inline constexpr uint32_t kAllHeuristics = HeuristicBit(kHeuristicStdString) | HeuristicBit(kHeuristicLength64) |
                                           HeuristicBit(kHeuristicNewArray) |
                                           HeuristicBit(kHeuristicMultipleInheritance);
const char* HeuristicName(Heuristic h);

enum class BlockSpace : uint8_t { kHeap = 0, kMapping = 1 };

// Flags of a Block.
inline constexpr uint8_t kBlockRoot = 1;  // a runtime's memory (Go heap arena, goroutine stacks): a root, never classified

// One live block the tracer knows: a heap block or a tracked anonymous mapping.
struct Block {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t site = 0;    // the caller's id, carried through (per-site totals)
  uint32_t thread = 0;  // the caller's id of the allocating thread, carried through
  BlockSpace space = BlockSpace::kHeap;
  uint8_t flags = 0;
  // Allocation order (a sequence number or timestamp; 0: unknown). It picks
  // which block of a lost cycle is the definite one: memcheck takes the
  // lowest address, a choice its source calls arbitrary; under valgrind's
  // allocator that is in practice the block allocated first (the object that
  // owns the rest), which glibc's reuse of freed chunks does not preserve.
  uint64_t order = 0;
};

struct AddressRange {
  uint64_t start = 0, end = 0;  // [start, end)
};

// Who holds a reachable block: every root that reaches it (through any chain)
// is the stack, registers or TLS of one live thread.
inline constexpr int32_t kHolderNone = -1;    // not reached (lost)
inline constexpr int32_t kHolderShared = -2;  // reached from a global root, or from several threads

struct BlockResult {
  LeakKind kind = LeakKind::kDefinite;
  Heuristic heuristic = kHeuristicNone;  // reachable only through an interior pointer this heuristic accepted
  int32_t holder = kHolderNone;          // index into ScanResult::threads, or kHolder*
  // For an indirect block: the input index of the definite block whose loss
  // took it along (memcheck's clique leader); for others: its own index.
  uint32_t leader = 0;
  // false: not classified (a kBlockRoot block, a mapping holding heap blocks,
  // or a block overlapping an earlier one); the fields above mean nothing.
  bool classified = false;
};

struct KindTotals {
  uint64_t bytes = 0;
  uint64_t blocks = 0;
};

struct ThreadInfo {
  pid_t tid = 0;
  bool stopped = false;  // registers read; false: its stack was scanned whole, conservatively
  uint64_t sp = 0;
  uint64_t tls = 0;      // the thread pointer (fs_base on x86-64)
  uint64_t stack_start = 0, stack_end = 0;  // the mapping holding sp (0 when unknown)
};

struct HeldByThread {
  int32_t thread = 0;  // index into ScanResult::threads
  KindTotals reachable;
  KindTotals possible;
};

// A word that points into a block named in ScanOptions::explain (memcheck's
// who_points_at): where it was, and what held it.
struct PointerFound {
  uint64_t target = 0;   // the block's address
  uint64_t where = 0;    // the address of the word (0 for a register)
  uint64_t value = 0;    // the word
  int32_t holder = kHolderShared;  // for a root: a thread index or kHolderShared
  bool in_block = false;           // the word lies in a block (`where` is inside it), not in a root
};

struct ScanResult {
  std::vector<BlockResult> blocks;  // parallel to the input blocks
  // Totals by kind and space ([space][kind]); root-flagged and excluded blocks are not counted.
  std::array<std::array<KindTotals, kLeakKinds>, 2> totals{};
  std::array<KindTotals, kHeuristics> via_heuristic{};  // reachable only thanks to each heuristic
  std::vector<ThreadInfo> threads;
  std::vector<HeldByThread> held_by_thread;  // threads that alone hold reachable (or possible) blocks

  // The world: how long the target was stopped, and for what.
  uint32_t threads_stopped = 0;
  uint32_t threads_not_stopped = 0;  // did not stop in time: scanned conservatively
  uint64_t stop_latency_ns = 0;      // from the first PTRACE_INTERRUPT until every thread stopped
  uint64_t paused_ns = 0;            // the whole time the target was stopped
  uint64_t read_ns = 0;              // reading memory and finding pointers (inside the pause)
  uint64_t index_ns = 0;             //   of which: sorting and indexing the blocks
  uint64_t roots_ns = 0;             //   of which: planning and reading the roots
  uint64_t mark_ns = 0;              // marking from the roots (inside the pause)
  uint64_t classify_ns = 0;          // the graph passes (after the target resumed)

  // What was read.
  uint64_t root_bytes = 0;        // root memory scanned
  uint64_t block_bytes = 0;       // block memory scanned
  uint64_t unreadable_bytes = 0;  // skipped: unmapped or unreadable when read
  uint64_t absent_bytes = 0;      // not read: pages of large ranges that were never touched (zeros)
  uint64_t unscanned_bytes = 0;   // not read: ranges over 256 GiB (see notes)
  uint64_t pointers = 0;          // words that point into a block (edges of the graph)
  uint64_t excluded_blocks = 0;   // overlapping another block, or a mapping that holds heap blocks
  uint64_t scan_memory_bytes = 0; // peak memory of the scan's own structures
  std::vector<std::string> notes;  // one line each: what was approximated, and why
  std::vector<PointerFound> explained;  // pointers into the blocks of ScanOptions::explain

  KindTotals Total(LeakKind kind) const {
    KindTotals t;
    for (const auto& space : totals) {
      t.bytes += space[static_cast<int>(kind)].bytes;
      t.blocks += space[static_cast<int>(kind)].blocks;
    }
    return t;
  }
};

}  // namespace memtrace::scan
