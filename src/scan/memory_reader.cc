// process_vm_readv first: one system call per contiguous range, no page-by-page
// copy through a kernel buffer as /proc/PID/mem does (1 GiB in 4 MiB pieces:
// 0.09 s against 0.14 s here). A short read means the next byte is not
// readable; that page is zero-filled and the read goes on after it.
#include "src/scan/memory_reader.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtrace::scan {
namespace {
constexpr uint64_t kPage = 4096;
}

absl::StatusOr<std::unique_ptr<ProcessMemoryReader>> ProcessMemoryReader::Open(pid_t pid, Method method) {
  std::string path = absl::StrCat("/proc/", pid, "/mem");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  std::string pagemap = absl::StrCat("/proc/", pid, "/pagemap");
  int pagemap_fd = open(pagemap.c_str(), O_RDONLY | O_CLOEXEC);
  auto reader = std::unique_ptr<ProcessMemoryReader>(new ProcessMemoryReader(pid, fd, pagemap_fd, method));
  if (method == Method::kProcessVmReadv) {
    // Probe with an empty read: ENOSYS or EPERM (seccomp) means /proc/PID/mem.
    struct iovec local = {nullptr, 0}, remote = {nullptr, 0};
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0 && (errno == ENOSYS || errno == EPERM)) {
      reader->method_ = Method::kProcMem;
    }
  }
  return reader;
}

ProcessMemoryReader::~ProcessMemoryReader() {
  if (mem_fd_ >= 0) close(mem_fd_);
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
}

bool ProcessMemoryReader::PresentRanges(uint64_t start, uint64_t end,
                                        std::vector<std::pair<uint64_t, uint64_t>>* out) {
  if (pagemap_fd_ < 0 || dead_) return false;
  constexpr size_t kEntries = 65536;  // 512 KiB of pagemap: 256 MiB of address space a read
  std::vector<uint64_t> entries(kEntries);
  uint64_t first = start / kPage, last = (end + kPage - 1) / kPage;
  uint64_t run_start = 0;
  bool in_run = false;
  for (uint64_t page = first; page < last;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kEntries, last - page));
    ssize_t got = pread(pagemap_fd_, entries.data(), n * 8, static_cast<off_t>(page * 8));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    size_t m = static_cast<size_t>(got) / 8;
    for (size_t k = 0; k < m; ++k) {
      bool present = (entries[k] >> 62) & 3;  // present or swapped
      uint64_t addr = (page + k) * kPage;
      if (present && !in_run) {
        run_start = addr;
        in_run = true;
      } else if (!present && in_run) {
        out->emplace_back(std::max(run_start, start), std::min(addr, end));
        in_run = false;
      }
    }
    page += m;
  }
  if (in_run) out->emplace_back(std::max(run_start, start), end);
  return true;
}

ssize_t ProcessMemoryReader::ReadOnce(uint64_t addr, void* dst, size_t len) {
  for (;;) {
    ssize_t n;
    if (method_ == Method::kProcessVmReadv) {
      struct iovec local = {dst, len};
      struct iovec remote = {reinterpret_cast<void*>(addr), len};
      n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    } else {
      n = pread(mem_fd_, dst, len, static_cast<off_t>(addr));
    }
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

size_t ProcessMemoryReader::Read(uint64_t addr, void* dst, size_t len) {
  auto* out = static_cast<unsigned char*>(dst);
  size_t done = 0, got = 0;
  while (done < len) {
    ssize_t n = ReadOnce(addr + done, out + done, len - done);
    if (n > 0) {
      done += n;
      got += n;
      continue;
    }
    if (n < 0 && errno == ESRCH) dead_ = true;  // the target is gone: nothing more can be read
    if (dead_) {
      memset(out + done, 0, len - done);
      break;
    }
    // The byte at addr + done is unreadable: zero the rest of its page, go on.
    uint64_t bad = addr + done;
    uint64_t next = (bad | (kPage - 1)) + 1;
    size_t skip = static_cast<size_t>(std::min<uint64_t>(next - bad, len - done));
    memset(out + done, 0, skip);
    done += skip;
  }
  return got;
}

}  // namespace memtrace::scan
