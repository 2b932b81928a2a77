// Stack bounds without glibc's thread lock (see stack_bounds.h).
#include "src/capture/stack_bounds.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "src/capture/hex_text.h"
#include "src/capture/thread_state.h"

extern "C" void* __libc_stack_end;  // ld.so: the process's initial stack pointer

namespace memtrace {
namespace {

StackRange g_main_stack;

// The mapping of /proc/self/maps holding `addr`, and the end of the mapping
// below it. Raw system calls and a stack buffer: this runs in the library
// constructor, where malloc is already our hook.
bool FindMapping(uintptr_t addr, uintptr_t* start, uintptr_t* end, uintptr_t* prev_end) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  char buf[4096];
  size_t have = 0;
  uintptr_t last_end = 0;
  bool found = false, eof = false;
  while (!found) {
    if (!eof) {
      ssize_t n = syscall(SYS_read, fd, buf + have, sizeof buf - have);
      if (n < 0) break;
      if (n == 0) eof = true;
      have += static_cast<size_t>(n);
    }
    char* nl = static_cast<char*>(memchr(buf, '\n', have));
    if (nl == nullptr) {
      if (eof || have == sizeof buf) break;  // a line longer than the buffer: give up
      continue;
    }
    const char* p = buf;
    uintptr_t s = ParseHexPrefix(p, nl);
    if (p < nl && *p == '-') ++p;
    uintptr_t e = ParseHexPrefix(p, nl);
    if (addr >= s && addr < e) {
      *start = s;
      *end = e;
      *prev_end = last_end;
      found = true;
    }
    last_end = e;
    size_t used = static_cast<size_t>(nl + 1 - buf);
    memmove(buf, nl + 1, have - used);
    have -= used;
  }
  syscall(SYS_close, fd);
  return found;
}

}  // namespace

void InitStackBounds() noexcept {
  auto top = reinterpret_cast<uintptr_t>(__libc_stack_end);
  uintptr_t start = 0, end = 0, prev_end = 0;
  if (top == 0 || !FindMapping(top, &start, &end, &prev_end)) return;
  // The stack grows down from `end` to at most RLIMIT_STACK below it, and
  // never into the mapping under it. A frame in [lo, end) is therefore in the
  // stack mapping, and everything from it up to `end` is mapped.
  rlimit rl{};
  uint64_t limit = uint64_t{16} << 30;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit) limit = rl.rlim_cur;
  uintptr_t lo = end > limit ? end - limit : 0;
  if (lo < prev_end) lo = prev_end;
  if (lo > start) lo = start;  // the mapping is already larger than the limit says
  g_main_stack = StackRange{lo, end};
}

StackRange MainStack() noexcept { return g_main_stack; }

StackRange StackFromDescriptor(uintptr_t tp, uintptr_t user_lo, size_t size, uintptr_t here) noexcept {
  StackRange r;
  if (user_lo != 0) {
    // The program's own stack: exactly what it gave (glibc puts the
    // descriptor and static TLS at its top, inside the range).
    r = StackRange{user_lo, user_lo + size};
  } else if (tp > size) {
    // glibc's stack block is [guard | stack of `size` | static TLS | descriptor],
    // the descriptor (tp) at its top (x86-64 keeps TLS below the thread
    // pointer). tp - size lies in the guard area, or, without a guard, less
    // than a page below the block, in the page under it: any live frame at
    // or above it is in the block, and so is every word from it up to tp.
    // A block reused from glibc's cache may be larger: the range is then
    // only smaller than the block, never larger.
    r = StackRange{tp - size, tp};
  }
  if (!r.Contains(here)) return StackRange{};
  return r;
}

void RecordThreadStack(uintptr_t user_lo, size_t size, uintptr_t here) noexcept {
  StackRange r = StackFromDescriptor(reinterpret_cast<uintptr_t>(pthread_self()), user_lo, size, here);
  t_state.stack_lo = r.lo;
  t_state.stack_hi = r.hi;
}

StackRange CurrentStack(uintptr_t fp0) noexcept {
  const ThreadState& t = t_state;
  if (t.stack_hi != 0 && fp0 >= t.stack_lo && fp0 < t.stack_hi) return StackRange{t.stack_lo, t.stack_hi};
  if (g_main_stack.Contains(fp0)) return g_main_stack;
  return StackRange{};
}

}  // namespace memtrace
