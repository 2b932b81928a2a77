// Reading another process's memory, for the reachability scan. The scan never
// dereferences the target's addresses itself: every byte comes through a
// MemoryReader, so an unmapped or guard page is an error return of a system
// call (never a fault in the watcher), and tests substitute a fake.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace memtrace::scan {

class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  // Copies [addr, addr + len) into dst. Bytes that cannot be read (unmapped,
  // PROT_NONE, the target gone) are zero-filled, page by page: zero is never
  // a pointer. Returns how many bytes were really read.
  virtual size_t Read(uint64_t addr, void* dst, size_t len) = 0;
  // The parts of [start, end) whose pages exist (resident or swapped out),
  // appended to `out` as [start, end) pairs; false when it cannot tell (then
  // the caller reads the whole range). A page that was never touched reads
  // as zeros: a reserved terabyte (ASan's shadow, a JVM heap, a
  // MAP_NORESERVE arena) need not be read to know it holds no pointer.
  virtual bool PresentRanges(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>* out) {
    (void)start;
    (void)end;
    (void)out;
    return false;
  }
};

// Reads a live process: process_vm_readv(2), or pread(2) on /proc/PID/mem
// (where process_vm_readv is refused, e.g. by a seccomp policy). Both need the
// caller to be allowed to ptrace the target.
class ProcessMemoryReader final : public MemoryReader {
 public:
  enum class Method { kProcessVmReadv, kProcMem };
  static absl::StatusOr<std::unique_ptr<ProcessMemoryReader>> Open(pid_t pid, Method method = Method::kProcessVmReadv);
  ~ProcessMemoryReader() override;
  size_t Read(uint64_t addr, void* dst, size_t len) override;
  // From /proc/PID/pagemap (bits 63 "present" and 62 "swapped").
  bool PresentRanges(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>* out) override;
  Method method() const { return method_; }

 private:
  ProcessMemoryReader(pid_t pid, int mem_fd, int pagemap_fd, Method method)
      : pid_(pid), mem_fd_(mem_fd), pagemap_fd_(pagemap_fd), method_(method) {}
  ssize_t ReadOnce(uint64_t addr, void* dst, size_t len);
  pid_t pid_;
  int mem_fd_;      // /proc/PID/mem, opened in either mode (the fallback)
  int pagemap_fd_;  // /proc/PID/pagemap; -1 when it cannot be read
  Method method_;
  bool dead_ = false;
};

}  // namespace memtrace::scan
