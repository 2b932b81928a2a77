// The stack depot: interns a stack (a list of return addresses) into one
// immutable StackRecord, forever. A stack seen before costs a hash and a
// compare, and travels in the ring as a pointer; frames are never copied
// again. (The idea is compiler-rt's StackDepot.)
//
// A deep stack is stored as chunks of kStackChunk frames counted from its
// outermost frame, each chunk a record of its own that points to the next
// one out: stacks that share their outer frames share those records. A
// program whose allocations differ only near the top of long stacks keeps
// each stack's few inner frames, not all of them again (`import torch`:
// ~600,000 stacks of ~42 frames, from the same import machinery). Every
// record is a whole stack in its own right: its frames, then its outer
// record's.
//
// Lock-free: buckets are singly linked lists pushed with CAS; records are
// carved from mmap'ed chunks with fetch_add; nothing is ever removed, so a
// reader never sees a record disappear. Safe in hooks, signal handlers and
// fork children (no locks, no malloc). Buckets, chunks and counters live in
// the shared region (region.h): the watcher reads the records events point to.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memtrace {

// Frames per record of a deep stack (see above).
inline constexpr uint32_t kStackChunk = 16;

struct StackRecord {
  const StackRecord* next;   // bucket chain
  const StackRecord* outer;  // the frames beyond this record's own; null: none
  uint64_t hash;
  uint32_t id;     // unique, < StackDepot::id_bound(); set before publication
  uint32_t depth;  // frames of the whole stack: own ones, then outer's
  uint32_t own;    // frames stored here: 1..kStackChunk (0: the empty stack)
  uintptr_t frames[];  // frame 0: the return address into the caller of malloc

  // Every frame of the stack, innermost first.
  template <typename F>
  void ForEachFrame(F&& f) const {
    for (const StackRecord* r = this; r != nullptr; r = r->outer) {
      for (uint32_t i = 0; i < r->own; ++i) f(r->frames[i]);
    }
  }

  StackRecord(const StackRecord&) = delete;
};

class StackDepot {
 public:
  // Maps the buckets and the shared counters; false if that failed. Also
  // used in a fork child, once the region was replaced: an empty depot again.
  bool Init() noexcept;
  // The record for frames[0..depth); nullptr only if memory ran out.
  const StackRecord* Intern(const uintptr_t* frames, uint32_t depth) noexcept;
  // Every id handed out is below this (ids lost to insert races leave gaps);
  // it counts records, outer chunks included.
  uint32_t id_bound() const noexcept { return shared_ != nullptr ? shared_->count.load(std::memory_order_acquire) : 0; }
  uint64_t bytes() const noexcept { return shared_ != nullptr ? shared_->bytes.load(std::memory_order_relaxed) : 0; }

  static uint64_t Hash(const uintptr_t* frames, uint32_t count, const StackRecord* outer) noexcept;
  // In the watcher's own code (see handoff.h): the program's depot.
  void AdoptFrom(const StackDepot& program) noexcept {
    buckets_ = program.buckets_;
    shared_ = program.shared_;
  }

 private:
  struct Chunk;
  struct Shared {
    std::atomic<Chunk*> chunk{nullptr};
    std::atomic<uint32_t> count{0};
    std::atomic<uint64_t> bytes{0};
  };
  void* AllocateRecord(size_t bytes) noexcept;
  // The record of frames[0..own) followed by `outer`'s frames.
  const StackRecord* InternChunk(const uintptr_t* frames, uint32_t own, const StackRecord* outer) noexcept;

  static constexpr uint32_t kBucketBits = 18;
  std::atomic<const StackRecord*>* buckets_ = nullptr;
  Shared* shared_ = nullptr;
  std::atomic<void*> spare_{nullptr};  // a chunk that lost an install race, for the next one
};

inline StackDepot g_depot;

}  // namespace memtrace
