// What already existed when tracing began: the threads that were running
// (/proc/self/task) and the mappings the kernel had (/proc/self/maps).
//
// Tracing starts at the first hooked call (src/startup.cc), so whatever ran
// before it -- the dynamic loader, constructors of libraries initialised
// earlier that did not call a hooked function, threads started by raw clone
// -- is not in the event stream. It is not the program's leak either, but a
// report must say that it exists: the threads are flagged when they register
// (their kThreadStart event carries kThreadPredates) and counted in
// `totals.threads.predating`; the mappings are kept as ranges, and each report
// says how many of their bytes are still mapped (`totals.process_maps`).
//
// Recorded in the traced process from inside a hook, possibly while the
// calling thread holds the loader's or libc's locks: raw system calls only,
// no allocation (memory straight from the kernel). The watcher is forked
// after the record and reads its copy.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memtrace {

struct PredatingRange {
  uint64_t start, end;
  bool file;  // backed by a file (else anonymous, [heap] and [stack] included)
};

class Predating {
 public:
  // Reads the threads and mappings now (again in a fork child: there,
  // tracing begins at the fork). `skip_lo`/`skip_hi`: a range to leave out
  // (the tracer's own). Never fails: what cannot be read is not recorded.
  void Record(uintptr_t skip_lo = 0, uintptr_t skip_hi = 0) noexcept;

  bool recorded() const noexcept { return recorded_; }
  // Threads that were running (the one that started tracing included).
  uint32_t threads() const noexcept { return threads_; }
  bool IsPredatingThread(uint64_t tid) const noexcept;
  // Mappings that existed, sorted and disjoint ([vdso], [vvar] and
  // [vsyscall] left out).
  const PredatingRange* ranges() const noexcept { return ranges_; }
  size_t range_count() const noexcept { return range_count_; }

 private:
  void RecordThreads() noexcept;
  void RecordMappings(uintptr_t skip_lo, uintptr_t skip_hi) noexcept;

  static constexpr size_t kMaxTids = 1024;  // tids kept for flagging; all are counted
  bool recorded_ = false;
  uint32_t threads_ = 0;
  uint32_t tid_count_ = 0;
  uint32_t tids_[kMaxTids] = {};
  PredatingRange* ranges_ = nullptr;  // from OsAllocate
  size_t range_count_ = 0;
  size_t ranges_bytes_ = 0;
};

// Set by the start-up in the traced process; the watcher reads its copy.
inline Predating g_predating;

// Parses one line of /proc/PID/maps into `out` (for the recorder and its
// unit test). False for lines that are not a mapping or that name [vdso],
// [vvar] or [vsyscall].
bool ParsePredatingLine(const char* line, size_t len, PredatingRange* out) noexcept;

}  // namespace memtrace
