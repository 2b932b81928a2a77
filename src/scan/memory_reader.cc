// process_vm_readv first: one system call per contiguous range, no page-by-page
// copy through a kernel buffer as /proc/PID/mem does (1 GiB in 4 MiB pieces:
// 0.09 s against 0.14 s here). A short read means the next byte is not
// readable; that page is zero-filled and the read goes on after it.
#include "src/scan/memory_reader.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
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
  auto reader = std::unique_ptr<ProcessMemoryReader>(new ProcessMemoryReader(pid, fd, method));
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
