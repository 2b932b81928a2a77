// Thread lifetimes as seen through the event stream (see thread_table.h).
#include "src/flush/thread_table.h"

#include <algorithm>

namespace memtrace {

uint32_t ThreadTable::RecordFor(uint32_t serial) {
  auto [it, inserted] = by_serial_.try_emplace(serial, 0);
  if (inserted) {
    ThreadRecord r;
    r.serial = serial;
    if (!free_.empty()) {
      it->second = free_.back();
      free_.pop_back();
      threads_[it->second] = std::move(r);
    } else {
      threads_.push_back(std::move(r));
      it->second = static_cast<uint32_t>(threads_.size() - 1);
    }
  }
  return it->second;
}

const ThreadRecord* ThreadTable::BySerial(uint32_t serial) const {
  auto it = by_serial_.find(serial);
  return it != by_serial_.end() ? &threads_[it->second] : nullptr;
}

void ThreadTable::MaybeFold() {
  if (++since_fold_ >= std::max<uint64_t>(kFoldEvery, (threads_.size() - free_.size()) / 2)) Fold();
}

void ThreadTable::Fold() {
  since_fold_ = 0;
  const uint64_t pass = fold_pass_++;
  auto foldable = [pass](const ThreadRecord& r) {
    return r.in_use && r.exited && r.exit_pass < pass && (r.joined || r.detached) && r.live_bytes == 0 &&
           r.live_blocks == 0;
  };
  // Children that stay keep what they need of a folded parent.
  for (uint32_t t = 1; t < threads_.size(); ++t) {
    ThreadRecord& r = threads_[t];
    if (r.in_use && !foldable(r) && r.parent != 0 && foldable(threads_[r.parent])) {
      r.parent_folded = true;
      r.parent_tid_folded = threads_[r.parent].tid;
    }
  }
  std::vector<uint32_t> folding;
  for (uint32_t t = 1; t < threads_.size(); ++t) {
    const ThreadRecord& r = threads_[t];
    if (!foldable(r)) continue;
    folding.push_back(t);
    ++folded_.count;
    ++folded_.by_creator[r.creator];
    if (r.created_by_hook) {
      FoldedThreads::Group& g = folded_.by_group[std::make_pair(r.start_routine, r.parent_serial)];
      ++g.threads;
      if (r.parent != 0) g.parent_tid = threads_[r.parent].tid;
      else if (r.parent_folded) g.parent_tid = r.parent_tid_folded;
    }
  }
  for (uint32_t t = 1; t < threads_.size(); ++t) {
    ThreadRecord& r = threads_[t];
    if (r.in_use && r.parent != 0 && r.parent_folded) r.parent = 0;
  }
  for (uint32_t t : folding) {
    ThreadRecord& r = threads_[t];
    by_serial_.erase(r.serial);
    auto h = by_handle_.find(r.handle);
    if (h != by_handle_.end() && h->second == t) by_handle_.erase(h);
    r = ThreadRecord{};
    r.in_use = false;
    free_.push_back(t);
  }
}

uint32_t ThreadTable::OnStart(uint32_t slot, uint64_t tid, uint32_t serial, uint64_t handle, uint64_t ts,
                              bool predates) {
  if (slot >= by_slot_.size()) by_slot_.resize(slot + 1, 0);
  uint32_t index = RecordFor(serial);
  ThreadRecord& r = threads_[index];
  by_slot_[slot] = index;
  if (r.started) return index;  // the same thread again (it allocated after its TLS destructors ran)
  r.started = true;
  r.tid = tid;
  r.predates_tracing = predates;
  if (r.start_ts == 0) r.start_ts = ts;
  if (r.handle == 0 && handle != 0) {
    r.handle = handle;
    by_handle_[handle] = index;
  }
  return index;
}

void ThreadTable::OnCreated(uint64_t handle, uint32_t serial, uint32_t parent_serial, uint64_t ts) {
  uint32_t index = RecordFor(serial);
  ThreadRecord& r = threads_[index];
  r.created_by_hook = true;
  r.handle = handle;
  by_handle_[handle] = index;
  if (r.start_ts == 0 || ts < r.start_ts) r.start_ts = ts;
  auto p = by_serial_.find(parent_serial);
  r.parent = p != by_serial_.end() ? p->second : 0;
  r.parent_serial = p != by_serial_.end() ? parent_serial : 0;
}

void ThreadTable::OnOrigin(uint32_t serial, uint64_t start_routine, const StackRecord* creator) {
  ThreadRecord& r = threads_[RecordFor(serial)];
  r.start_routine = start_routine;
  r.creator = creator;
}

void ThreadTable::OnAttr(uint32_t serial, uint64_t stack_size, bool detached) {
  ThreadRecord& r = threads_[RecordFor(serial)];
  r.stack_size = stack_size;
  r.detached |= detached;
}

void ThreadTable::OnExit(uint32_t slot, uint64_t ts) {
  uint32_t t = ThreadOfSlot(slot);
  if (t == 0) return;
  threads_[t].exited = true;
  threads_[t].exit_ts = ts;
  threads_[t].exit_pass = fold_pass_;
  by_slot_[slot] = 0;
  MaybeFold();
}

uint32_t ThreadTable::ByHandle(uint64_t handle) const {
  auto it = by_handle_.find(handle);
  return it != by_handle_.end() ? it->second : 0;
}

void ThreadTable::OnJoin(uint64_t handle) {
  if (uint32_t t = ByHandle(handle)) {
    threads_[t].joined = true;
    MaybeFold();
  }
}

void ThreadTable::OnDetach(uint64_t handle) {
  if (uint32_t t = ByHandle(handle)) threads_[t].detached = true;
}

void ThreadTable::OnName(uint64_t handle, std::string name) {
  if (uint32_t t = ByHandle(handle)) threads_[t].name = std::move(name);
}

}  // namespace memtrace
