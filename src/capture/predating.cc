// Records the threads and mappings that predate tracing (see predating.h).
// Raw system calls and kernel memory only: this runs inside a hook.
#include "src/capture/predating.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "src/capture/hex_text.h"
#include "src/capture/os_memory.h"

namespace memtrace {
namespace {

int RawOpen(const char* path, int flags) noexcept {
  return static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0));
}

// Static: the record runs once at a time (tracing's start, a fork child).
char g_buf[16384];

}  // namespace

bool ParsePredatingLine(const char* line, size_t len, PredatingRange* out) noexcept {
  const char* p = line;
  const char* end = line + len;
  uint64_t start = ParseHexPrefix(p, end);
  if (p == end || *p != '-') return false;
  ++p;
  uint64_t stop = ParseHexPrefix(p, end);
  if (stop <= start) return false;
  // Fields: perms offset dev inode path; the path starts after the inode.
  int field = 0;
  uint64_t inode = 0;
  while (p < end && field < 4) {
    while (p < end && *p == ' ') ++p;
    const char* f = p;
    while (p < end && *p != ' ') ++p;
    ++field;
    if (field == 4) {
      for (const char* q = f; q < p && *q >= '0' && *q <= '9'; ++q) inode = inode * 10 + static_cast<uint64_t>(*q - '0');
    }
  }
  while (p < end && *p == ' ') ++p;
  size_t path_len = static_cast<size_t>(end - p);
  if (path_len > 0 && *p == '[') {
    // [heap], [stack], [stack:TID] and [anon:NAME] are anonymous memory;
    // the kernel's own pages are not the program's.
    if ((path_len >= 6 && memcmp(p, "[vdso]", 6) == 0) || (path_len >= 6 && memcmp(p, "[vvar]", 6) == 0) ||
        (path_len >= 10 && memcmp(p, "[vsyscall]", 10) == 0) || (path_len >= 9 && memcmp(p, "[uprobes]", 9) == 0)) {
      return false;
    }
    out->file = false;
  } else {
    out->file = path_len > 0 && inode != 0;
  }
  out->start = start;
  out->end = stop;
  return true;
}

bool Predating::IsPredatingThread(uint64_t tid) const noexcept {
  for (uint32_t i = 0; i < tid_count_; ++i) {
    if (tids_[i] == tid) return true;
  }
  return false;
}

void Predating::Record(uintptr_t skip_lo, uintptr_t skip_hi) noexcept {
  RecordThreads();
  RecordMappings(skip_lo, skip_hi);
  recorded_ = true;
}

void Predating::RecordThreads() noexcept {
  threads_ = 0;
  tid_count_ = 0;
  int fd = RawOpen("/proc/self/task", O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, g_buf, sizeof(g_buf));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(g_buf + off);
      off += d->d_reclen;
      uint64_t tid = 0;
      const char* c = d->d_name;
      if (*c < '0' || *c > '9') continue;
      for (; *c >= '0' && *c <= '9'; ++c) tid = tid * 10 + static_cast<uint64_t>(*c - '0');
      ++threads_;
      if (tid_count_ < kMaxTids) tids_[tid_count_++] = static_cast<uint32_t>(tid);
    }
  }
  syscall(SYS_close, fd);
}

void Predating::RecordMappings(uintptr_t skip_lo, uintptr_t skip_hi) noexcept {
  if (ranges_ != nullptr) OsFree(ranges_, ranges_bytes_);
  ranges_ = nullptr;
  range_count_ = 0;
  ranges_bytes_ = 0;
  // A scratch table sized for vm.max_map_count's default (65530 mappings):
  // only the pages written cost memory, and it is replaced by an exact copy.
  constexpr size_t kScratchEntries = 65536;
  size_t scratch_bytes = kScratchEntries * sizeof(PredatingRange);
  auto* scratch = static_cast<PredatingRange*>(OsAllocate(scratch_bytes));
  if (scratch == nullptr) return;
  int fd = RawOpen("/proc/self/maps", O_RDONLY);
  size_t n = 0;
  if (fd >= 0) {
    size_t have = 0;
    bool skipping = false;  // inside a line longer than the buffer: only its start was used
    for (;;) {
      long got = syscall(SYS_read, fd, g_buf + have, sizeof(g_buf) - have);
      if (got <= 0) break;
      have += static_cast<size_t>(got);
      size_t line = 0;
      for (size_t i = 0; i < have; ++i) {
        if (g_buf[i] != '\n') continue;
        PredatingRange r;
        if (!skipping && n < kScratchEntries && ParsePredatingLine(g_buf + line, i - line, &r)) scratch[n++] = r;
        skipping = false;
        line = i + 1;
      }
      if (line == 0 && have == sizeof(g_buf)) {
        // One line fills the buffer (a very long path): keep its start.
        PredatingRange r;
        if (!skipping && n < kScratchEntries && ParsePredatingLine(g_buf, 200, &r)) scratch[n++] = r;
        skipping = true;
        line = have;
      }
      memmove(g_buf, g_buf + line, have - line);
      have -= line;
    }
    syscall(SYS_close, fd);
  }
  // Leave out the scratch table itself and the caller's range: the kernel
  // may have merged them with a neighbour, so they are cut out, not dropped.
  auto lo1 = reinterpret_cast<uint64_t>(scratch), hi1 = lo1 + scratch_bytes;
  const std::pair<uint64_t, uint64_t> skips[2] = {{lo1, hi1}, {skip_lo, skip_hi}};
  // Each entry becomes up to three pieces; counted first, then copied out.
  auto pieces_of = [&skips](PredatingRange r, PredatingRange* pieces) {
    size_t np = 1;
    pieces[0] = r;
    for (auto [lo, hi] : skips) {
      if (lo >= hi) continue;
      PredatingRange next[3];
      size_t nn = 0;
      for (size_t k = 0; k < np; ++k) {
        PredatingRange q = pieces[k];
        if (q.end <= lo || q.start >= hi) {
          next[nn++] = q;
          continue;
        }
        if (q.start < lo) next[nn++] = PredatingRange{q.start, lo, q.file};
        if (q.end > hi) next[nn++] = PredatingRange{hi, q.end, q.file};
      }
      np = nn;
      for (size_t k = 0; k < np; ++k) pieces[k] = next[k];
    }
    return np;
  };
  size_t total = 0;
  PredatingRange pieces[3];
  for (size_t i = 0; i < n; ++i) total += pieces_of(scratch[i], pieces);
  if (total > 0) {
    size_t bytes = total * sizeof(PredatingRange);
    ranges_ = static_cast<PredatingRange*>(OsAllocate(bytes));
    if (ranges_ != nullptr) {
      size_t out = 0;
      for (size_t i = 0; i < n; ++i) {
        size_t np = pieces_of(scratch[i], pieces);
        for (size_t k = 0; k < np; ++k) ranges_[out++] = pieces[k];
      }
      range_count_ = out;
      ranges_bytes_ = bytes;
    }
  }
  OsFree(scratch, scratch_bytes);
}

}  // namespace memtrace
