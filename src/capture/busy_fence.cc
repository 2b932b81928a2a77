// The asymmetric busy-stamp fence (see busy_fence.h).
#include "src/capture/busy_fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtrace {
namespace {

long Membarrier(int cmd) noexcept { return syscall(SYS_membarrier, cmd, 0U, 0); }

// The global expedited command: the fence is issued by the watcher, another
// process, for this one's threads (the private command only covers the
// caller's own process). It interrupts only CPUs currently running a thread
// of a process that registered, i.e. the traced program.
bool Register() noexcept {
  long supported = Membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0) return false;
  if (Membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0) return false;
  return Membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;  // it works here
}

}  // namespace

const char* BusyFenceInit(bool allow_membarrier) noexcept {
  bool light = allow_membarrier && Register();
  g_light_busy_stamp.store(light, std::memory_order_seq_cst);
  return light ? "membarrier" : "locked";
}

bool BusyFenceHeavy() noexcept {
  if (!g_light_busy_stamp.load(std::memory_order_relaxed)) return true;
  if (Membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0) return true;
  // Not expected once registered. Hooks go back to locked stores; this
  // round's stamps cannot be trusted, so the caller keeps its old watermark.
  g_light_busy_stamp.store(false, std::memory_order_seq_cst);
  return false;
}

void BusyFenceAfterFork() noexcept {
  if (g_light_busy_stamp.load(std::memory_order_relaxed) && !Register()) {
    g_light_busy_stamp.store(false, std::memory_order_seq_cst);
  }
}

}  // namespace memtrace
