// Thread lifetimes as seen through the event stream (see thread_table.h).
#include "src/flush/thread_table.h"


namespace memtrace {

uint32_t ThreadTable::RecordFor(uint32_t serial) {
  auto [it, inserted] = by_serial_.try_emplace(serial, 0);
  if (inserted) {
    ThreadRecord r;
    r.serial = serial;
    threads_.push_back(std::move(r));
    it->second = static_cast<uint32_t>(threads_.size() - 1);
  }
  return it->second;
}

uint32_t ThreadTable::OnStart(uint32_t slot, uint64_t tid, uint32_t serial, uint64_t handle, uint64_t ts) {
  if (slot >= by_slot_.size()) by_slot_.resize(slot + 1, 0);
  uint32_t index = RecordFor(serial);
  ThreadRecord& r = threads_[index];
  by_slot_[slot] = index;
  if (r.started) return index;  // the same thread again (it allocated after its TLS destructors ran)
  r.started = true;
  r.tid = tid;
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
  by_slot_[slot] = 0;
}

uint32_t ThreadTable::ByHandle(uint64_t handle) const {
  auto it = by_handle_.find(handle);
  return it != by_handle_.end() ? it->second : 0;
}

void ThreadTable::OnJoin(uint64_t handle) {
  if (uint32_t t = ByHandle(handle)) threads_[t].joined = true;
}

void ThreadTable::OnDetach(uint64_t handle) {
  if (uint32_t t = ByHandle(handle)) threads_[t].detached = true;
}

void ThreadTable::OnName(uint64_t handle, std::string name) {
  if (uint32_t t = ByHandle(handle)) threads_[t].name = std::move(name);
}

}  // namespace memtrace
