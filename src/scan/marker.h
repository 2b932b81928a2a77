// Phase two of the scan: memcheck's classification (memcheck/mc_leakcheck.c),
// run on the pointer graph (pointer_graph.h) instead of on memory.
//
// Marking (memcheck's lc_push_without_clique_if_a_chunk_ptr): a pointer from a
// root or a block X to block Y, with "prior definite" = X is a root or X is
// reachable:
//   start pointer (or an interior pointer a heuristic accepts), prior
//   definite                        -> Y reachable
//   otherwise, Y not yet reached    -> Y possible
// and Y is scanned again whenever its state rises. The states only rise, so
// the result is the least fixpoint whatever the order the edges are taken in.
//
// Cliques (the second loop of MC_(detect_memory_leaks)): for every block
// still unreached, in allocation order where the blocks carry it, else in
// address order as memcheck, every unreached block it leads to
// (through blocks captured on the way) becomes indirect, in its clique; a
// leader captured later joins the later clique. The blocks left unreached are
// definitely lost.
//
// Holders, which memcheck does not compute: alongside the state each block
// carries who reaches it: one thread (its stack, registers or TLS), or
// "shared" (a global root, or several threads). Shared roots are taken first,
// so a block a global already reaches is never scanned again for a thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/scan/block_index.h"
#include "src/scan/maps.h"
#include "src/scan/memory_reader.h"
#include "src/scan/pointer_graph.h"
#include "src/scan/scan_types.h"

namespace memtrace::scan {

// memcheck's aligned_ptr_above_page0_is_vtable_addr: `addr` lies in a
// readable file mapping and, among its next 20 words (within the mapping),
// the first two non-null ones point into executable file mappings.
class VtableCheck {
 public:
  VtableCheck(const MappingIndex& maps, MemoryReader& reader) : maps_(maps), reader_(reader) {}
  bool IsVtable(uint64_t addr);

 private:
  const MappingIndex& maps_;
  MemoryReader& reader_;
  absl::flat_hash_map<uint64_t, bool> cache_;
};

class Marker {
 public:
  enum State : uint8_t { kUnreached = 0, kPossible = 1, kReachable = 2, kIndirect = 3 };

  // `vtables` and `reader` serve the multiple-inheritance heuristic, which
  // reads the word an interior pointer points at: MarkFromRoots must then run
  // while the target is stopped. Either may be null (that heuristic off).
  Marker(const BlockIndex& index, std::span<const Block> blocks, const PointerGraph& graph, uint32_t heuristics,
         VtableCheck* vtables, MemoryReader* reader);

  void MarkFromRoots();
  void FindCliques();

  State state(uint32_t i) const { return static_cast<State>(flags_[i] & kStateMask); }
  Heuristic heuristic(uint32_t i) const { return static_cast<Heuristic>((flags_[i] >> kHeurShift) & 7); }
  int32_t holder(uint32_t i) const { return holder_[i]; }
  // The definite block an indirect one was lost with (itself otherwise).
  uint32_t leader(uint32_t i) const;
  size_t MemoryBytes() const {
    return flags_.capacity() + holder_.capacity() * 4 + leader_.capacity() * 4 + stack_.capacity() * 4 +
           mi_words_.capacity() * 16;
  }

 private:
  static constexpr uint8_t kStateMask = 3, kPending = 4, kHeurShift = 3;
  void Reach(uint32_t y, uint32_t offset, bool prior_definite, int32_t holder);
  void Drain();
  Heuristic HeuristicFor(uint32_t y, uint32_t offset);
  void SetState(uint32_t i, State s) { flags_[i] = (flags_[i] & ~kStateMask) | s; }
  void SetHeuristic(uint32_t i, Heuristic h) {
    flags_[i] = static_cast<uint8_t>((flags_[i] & ~(7 << kHeurShift)) | (h << kHeurShift));
  }
  void Push(uint32_t i) {
    if (!(flags_[i] & kPending)) {
      flags_[i] |= kPending;
      stack_.push_back(i);
    }
  }

  const BlockIndex& index_;
  std::span<const Block> blocks_;
  const PointerGraph& graph_;
  uint32_t heuristics_;
  VtableCheck* vtables_;
  MemoryReader* reader_;
  std::vector<uint8_t> flags_;
  std::vector<int32_t> holder_;
  std::vector<uint32_t> leader_;
  std::vector<uint32_t> stack_;
  absl::flat_hash_map<uint64_t, uint64_t> mi_words_;  // address -> word, read for the MI heuristic
};

}  // namespace memtrace::scan
