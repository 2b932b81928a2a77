// What the watcher must know of tracing's start (src/startup.cc), and of
// libraries opened with RTLD_DEEPBIND, that can change after it was forked:
// kept in the shared region.
//
// Libraries libmemtrace depends on (glibc, libstdc++, libgcc_s and the ones
// it links) are initialised before libmemtrace's constructor and allocate for
// themselves there (libstdc++'s exception emergency pool, atexit's list).
// Tracing starts at the first hooked call, so those calls are captured; but
// they are not the program's: for a C program libstdc++ is there only
// because of us. An allocation or mapping made before our constructor ran
// whose every stack frame lies in that dependency closure is the runtime's
// own start-up, and the watcher treats it as the tracer's (its free is
// recognised, nothing is reported). A constructor of any other library (the
// program's own, OpenBLAS) has its own frame on the stack: it is traced.
#pragma once

#include <atomic>
#include <cstdint>

#include "src/capture/caller_modules.h"
#include "src/capture/stack_depot.h"

namespace memtrace {

// A library the program opened with RTLD_DEEPBIND (interpose/deepbind.h).
struct DeepbindRecord {
  char path[256];
  std::atomic<uint32_t> redirected;  // relocations pointed back at our hooks
  std::atomic<uint32_t> caught_up;   // 1 once its dlopen returned and it was patched
};

struct StartInfo {
  // ClockNow() when libmemtrace's constructor ran; UINT64_MAX before (0 in
  // a fork child: its tracing began after it).
  std::atomic<uint64_t> constructor_ts{UINT64_MAX};
  // RTLD_DEEPBIND libraries, in the order they were opened (the first 8).
  static constexpr uint32_t kMaxDeepbind = 8;
  std::atomic<uint32_t> deepbind_count{0};
  DeepbindRecord deepbind[kMaxDeepbind];
};

// In the region (allocated at the start of capture); null in unit tests.
inline StartInfo* g_start_info = nullptr;

// libmemtrace's dependency closure (caller_modules.h), found at the start of
// capture; the watcher reads its copy.
inline CallerModules g_tracer_modules;

// True if every frame of `stack` lies in that closure.
inline bool RuntimeStartupStack(const StackRecord* stack) noexcept {
  if (stack == nullptr || stack->depth == 0 || !g_tracer_modules.ready()) return false;
  bool ours = true;
  stack->ForEachFrame([&](uintptr_t address) { ours = ours && g_tracer_modules.Ours(address); });
  return ours;
}

}  // namespace memtrace
