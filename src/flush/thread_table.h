// The threads the flusher has seen: one record per thread, from its first
// event (or its creation through our pthread_create hook) to its exit, with
// its origin (parent, creation stack, start routine, stack size), its fate
// (joined, detached, exited) and the memory it allocated that is still live.
// Index 0 is reserved for events whose thread is unknown.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/capture/stack_depot.h"

namespace memtrace {

struct ThreadRecord {
  uint64_t tid = 0;
  uint32_t serial = 0;
  uint64_t handle = 0;  // pthread_t
  std::string name;
  uint32_t parent = 0;  // thread index; 0: unknown (main thread, or created before tracing)
  bool created_by_hook = false;
  const StackRecord* creator = nullptr;  // where pthread_create was called
  uint64_t start_routine = 0;
  uint64_t stack_size = 0;
  uint64_t start_ts = 0, exit_ts = 0;
  bool started = false;  // its own first event was seen
  bool exited = false, joined = false, detached = false;
  uint64_t live_bytes = 0, live_blocks = 0, alloc_bytes = 0;
};

class ThreadTable {
 public:
  ThreadTable() { threads_.emplace_back(); }

  // The thread's own first event. Its record may exist already (its creator
  // recorded the creation), or be created here.
  uint32_t OnStart(uint32_t slot, uint64_t tid, uint32_t serial, uint64_t handle, uint64_t ts);
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
  const std::vector<ThreadRecord>& threads() const { return threads_; }

 private:
  uint32_t ByHandle(uint64_t handle) const;
  uint32_t RecordFor(uint32_t serial);

  std::vector<ThreadRecord> threads_;
  std::vector<uint32_t> by_slot_;
  absl::flat_hash_map<uint32_t, uint32_t> by_serial_;
  absl::flat_hash_map<uint64_t, uint32_t> by_handle_;  // the latest thread with that handle
};

}  // namespace memtrace
