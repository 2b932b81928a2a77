// Hooks for dlopen and dlclose. They only look: the module list changes (the
// watcher re-reads /proc/PID/maps), and a process about to load the CUDA
// driver subscribes to CUPTI first (a statically linked cudart dlopens
// libcuda.so.1 itself, and our runtime hooks never see its calls).
//
// dlopen must stay the program's call: glibc finds the library relative to
// the *calling* object (its RUNPATH, $ORIGIN, its namespace), which it takes
// from its own return address. So our dlopen is a few instructions of
// assembly that call the look-ahead and then jump to the real dlopen with
// the caller's return address still on the stack, as if we were not there.
// Nothing runs after the load: the loader's lock is never held around our code.
#include <dlfcn.h>
#include <string.h>

#include <atomic>

#include "cupti/cupti_subscriber.h"
#include "src/capture/capture.h"
#include "src/capture/region.h"

namespace {

using DlopenFn = void* (*)(const char*, int);
using DlcloseFn = int (*)(void*);
std::atomic<DlcloseFn> g_real_dlclose{nullptr};

void BumpModules() noexcept {
  if (memtrace::g_region.active()) {
    memtrace::g_region.header()->modules_generation.fetch_add(1, std::memory_order_release);
  }
}

bool IsCudaDriver(const char* file) noexcept {
  if (file == nullptr) return false;
  const char* base = strrchr(file, '/');
  base = base != nullptr ? base + 1 : file;
  return strncmp(base, "libcuda.so", 10) == 0;
}

}  // namespace

// Read by the assembly below: resolved by memtrace_before_dlopen.
extern "C" {
__attribute__((visibility("hidden"))) DlopenFn memtrace_real_dlopen = nullptr;
}

extern "C" __attribute__((visibility("hidden"), used)) void memtrace_before_dlopen(const char* file, int mode) noexcept {
  (void)mode;
  if (memtrace_real_dlopen == nullptr) {
    memtrace_real_dlopen = reinterpret_cast<DlopenFn>(dlsym(RTLD_NEXT, "dlopen"));
  }
  BumpModules();
  if (IsCudaDriver(file)) {
    // Entered like a hook: CUPTI's allocations are events its frees match.
    memtrace::ThreadSlot* s = memtrace::CaptureEnter();
    if (s == nullptr) return;
    memtrace::cupti::Start();
    dlerror();  // free what our dl* calls left, inside the guard
    memtrace::CaptureLeave(s);
  }
}

// dlopen(file, mode): save the arguments, call the look-ahead (16-byte stack
// alignment kept), restore them and jump to the real dlopen.
asm(R"(
  .text
  .globl dlopen
  .type dlopen, @function
  .p2align 4
dlopen:
  .cfi_startproc
  pushq %rdi
  .cfi_adjust_cfa_offset 8
  pushq %rsi
  .cfi_adjust_cfa_offset 8
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  call memtrace_before_dlopen
  addq $8, %rsp
  .cfi_adjust_cfa_offset -8
  popq %rsi
  .cfi_adjust_cfa_offset -8
  popq %rdi
  .cfi_adjust_cfa_offset -8
  jmp *memtrace_real_dlopen(%rip)
  .cfi_endproc
  .size dlopen, .-dlopen
)");

extern "C" __attribute__((visibility("default"))) int dlclose(void* handle) noexcept {
  DlcloseFn real = g_real_dlclose.load(std::memory_order_acquire);
  if (real == nullptr) {
    real = reinterpret_cast<DlcloseFn>(dlsym(RTLD_NEXT, "dlclose"));
    g_real_dlclose.store(real, std::memory_order_release);
  }
  BumpModules();
  return real(handle);
}
