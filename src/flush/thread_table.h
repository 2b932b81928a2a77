// The threads the flusher has seen: one record per thread, from its first
// event (or its creation through our pthread_create hook) to its exit, with
// its origin (parent, creation stack, start routine, stack size), its fate
// (joined, detached, exited) and the memory it allocated that is still live.
// Index 0 is reserved for events whose thread is unknown.
//
// Bounded: a thread that has exited, was joined or detached and holds no
// memory is folded into per-creator and per-group counts (FoldedThreads) and
// its record reused, so a program that starts a thread per request does not
// grow the table. Folding runs once per few thousand exits, over records
// that exited before the previous pass (a detached thread may still run its
// last TLS destructors, allocate, and re-register under the same record).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/capture/stack_depot.h"

namespace memtrace {

struct ThreadRecord {
  uint64_t tid = 0;
  uint32_t serial = 0;
  uint64_t handle = 0;  // pthread_t
  std::string name;
  uint32_t parent = 0;  // thread index; 0: unknown (main thread, or created before tracing) or folded
  uint32_t parent_serial = 0;  // the parent's serial when its record was known, else 0
  bool parent_folded = false;  // the parent's record was folded: it exited, joined or detached
  uint64_t parent_tid_folded = 0;
  bool created_by_hook = false;
  const StackRecord* creator = nullptr;  // where pthread_create was called
  uint64_t start_routine = 0;
  uint64_t stack_size = 0;
  uint64_t start_ts = 0, exit_ts = 0;
  bool started = false;  // its own first event was seen
  bool predates_tracing = false;  // it was running when tracing began
  bool exited = false, joined = false, detached = false;
  uint64_t live_bytes = 0, live_blocks = 0, alloc_bytes = 0;
  uint64_t exit_pass = 0;  // the fold pass count when it exited
  bool in_use = true;      // false: folded, the index is free for a new thread
};

// What the reports still need of folded threads.
struct FoldedThreads {
  struct Group {
    uint64_t threads = 0;
    uint64_t parent_tid = 0;  // 0 if the parent is unknown
  };
  uint64_t count = 0;
  absl::flat_hash_map<const StackRecord*, uint64_t> by_creator;
  // Threads our pthread_create hook started, by (start routine, parent serial).
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, Group> by_group;
};

class ThreadTable {
 public:
  ThreadTable() { threads_.emplace_back(); }

  // The thread's own first event. Its record may exist already (its creator
  // recorded the creation), or be created here.
  // `predates`: it was running when tracing began (src/capture/predating.h).
  uint32_t OnStart(uint32_t slot, uint64_t tid, uint32_t serial, uint64_t handle, uint64_t ts, bool predates = false);
  // From the creating thread, as pthread_create returns (may come before or
  // after the new thread's OnStart).
  void OnCreated(uint64_t handle, uint32_t serial, uint32_t parent_serial, uint64_t ts);
  void OnOrigin(uint32_t serial, uint64_t start_routine, const StackRecord* creator);
  void OnAttr(uint32_t serial, uint64_t stack_size, bool detached);
  void OnExit(uint32_t slot, uint64_t ts);
  void OnJoin(uint64_t handle);
  void OnDetach(uint64_t handle);
  void OnName(uint64_t handle, std::string name);
  // Memory attributed to thread `t`: live bytes/blocks change, and newly
  // allocated bytes.
  void Account(uint32_t t, int64_t live_bytes, int64_t live_blocks, uint64_t new_bytes) {
    if (t >= threads_.size()) return;
    ThreadRecord& r = threads_[t];
    r.live_bytes = static_cast<uint64_t>(static_cast<int64_t>(r.live_bytes) + live_bytes);
    r.live_blocks = static_cast<uint64_t>(static_cast<int64_t>(r.live_blocks) + live_blocks);
    r.alloc_bytes += new_bytes;
  }

  // The thread currently owning `slot` (0 if unknown).
  uint32_t ThreadOfSlot(uint32_t slot) const { return slot < by_slot_.size() ? by_slot_[slot] : 0; }
  // Records by index; those with in_use false are folded (skip them).
  const std::vector<ThreadRecord>& threads() const { return threads_; }
  const FoldedThreads& folded() const { return folded_; }
  // The record of the thread with `serial`, if not folded.
  const ThreadRecord* BySerial(uint32_t serial) const;
  // Threads seen since tracing began, folded ones included.
  uint64_t seen() const { return threads_.size() - 1 - free_.size() + folded_.count; }
  // Folds every record that can be (normally triggered by exits and joins).
  void Fold();

 private:
  uint32_t ByHandle(uint64_t handle) const;
  uint32_t RecordFor(uint32_t serial);
  void MaybeFold();

  static constexpr uint64_t kFoldEvery = 4096;  // exits, joins and detaches between passes (at least)

  std::vector<ThreadRecord> threads_;
  std::vector<uint32_t> by_slot_;
  absl::flat_hash_map<uint32_t, uint32_t> by_serial_;
  absl::flat_hash_map<uint64_t, uint32_t> by_handle_;  // the latest thread with that handle
  std::vector<uint32_t> free_;  // indices of folded records
  FoldedThreads folded_;
  uint64_t fold_pass_ = 0;
  uint64_t since_fold_ = 0;
};

}  // namespace memtrace
