// Hooks for dlopen, dlclose and dlsym. They only look: the module list
// changes (the watcher re-reads /proc/PID/maps), a process about to load the
// CUDA driver subscribes to CUPTI first (a statically linked cudart dlopens
// libcuda.so.1 itself, and our runtime hooks never see its calls), a library
// opened with RTLD_DEEPBIND is noted and, at the program's next dl* call,
// pointed back at our hooks (deepbind.h).
//
// dlopen must stay the program's call: glibc finds the library relative to
// the *calling* object (its RUNPATH, $ORIGIN, its namespace), which it takes
// from its own return address. So our dlopen is a few instructions of
// assembly that call the look-ahead and then jump to the real dlopen with
// the caller's return address still on the stack, as if we were not there.
// Nothing runs after the load: the loader's lock is never held around our
// code. dlsym is the same (RTLD_NEXT and RTLD_DEFAULT depend on the caller).
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "cupti/cupti_subscriber.h"
#include "interpose/deepbind.h"
#include "src/capture/capture.h"
#include "src/capture/region.h"

namespace {

using DlopenFn = void* (*)(const char*, int);
using DlsymFn = void* (*)(void*, const char*);
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

// Read by the assembly below: resolved by memtrace_before_dlopen and
// memtrace_before_dlsym.
extern "C" {
__attribute__((visibility("hidden"))) DlopenFn memtrace_real_dlopen = nullptr;
__attribute__((visibility("hidden"))) DlsymFn memtrace_real_dlsym = nullptr;
}

extern "C" __attribute__((visibility("hidden"), used)) void memtrace_before_dlopen(const char* file, int mode) noexcept {
  if (memtrace_real_dlopen == nullptr) {
    memtrace_real_dlopen = reinterpret_cast<DlopenFn>(dlsym(RTLD_NEXT, "dlopen"));
  }
  // Program code called dlopen and the loader's lock is not taken yet: a
  // safe point for the watcher's start (src/startup.cc), before the
  // constructors of what this loads run.
  if (memtrace::t_state.guard == 0) {
    memtrace::TracingStartAt(memtrace::StartPoint::kSafe, 0);
    memtrace::DeepbindCatchUp();
    if ((mode & RTLD_DEEPBIND) != 0 && memtrace::g_start_state.load(std::memory_order_acquire) != memtrace::kStartOff) {
      memtrace::DeepbindBeforeDlopen(file);
    }
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

// A look-ahead trampoline: SYM(a, b) saves its two arguments, calls
// BEFORE(a, b) (16-byte stack alignment kept), restores them and jumps to
// *REAL with the caller's return address still on the stack.
#define MT_LOOKAHEAD_TRAMPOLINE(SYM, BEFORE, REAL) \
  asm(".text\n"                                  \
      ".globl " #SYM "\n"                        \
      ".type " #SYM ", @function\n"              \
      ".p2align 4\n" #SYM ":\n"                 \
      ".cfi_startproc\n"                         \
      "pushq %rdi\n"                             \
      ".cfi_adjust_cfa_offset 8\n"               \
      "pushq %rsi\n"                             \
      ".cfi_adjust_cfa_offset 8\n"               \
      "subq $8, %rsp\n"                          \
      ".cfi_adjust_cfa_offset 8\n"               \
      "call " #BEFORE "\n"                       \
      "addq $8, %rsp\n"                          \
      ".cfi_adjust_cfa_offset -8\n"              \
      "popq %rsi\n"                              \
      ".cfi_adjust_cfa_offset -8\n"              \
      "popq %rdi\n"                              \
      ".cfi_adjust_cfa_offset -8\n"              \
      "jmp *" #REAL "(%rip)\n"                   \
      ".cfi_endproc\n"                           \
      ".size " #SYM ", .-" #SYM "\n")

// dlopen(file, mode): the look-ahead, then the real dlopen.
MT_LOOKAHEAD_TRAMPOLINE(dlopen, memtrace_before_dlopen, memtrace_real_dlopen);

extern "C" __attribute__((visibility("default"))) int dlclose(void* handle) noexcept {
  DlcloseFn real = g_real_dlclose.load(std::memory_order_acquire);
  if (real == nullptr) {
    real = reinterpret_cast<DlcloseFn>(dlsym(RTLD_NEXT, "dlclose"));
    g_real_dlclose.store(real, std::memory_order_release);
  }
  if (memtrace::t_state.guard == 0) memtrace::DeepbindCatchUp();
  BumpModules();
  return real(handle);
}

// The real dlsym, found without calling dlsym (which is this hook): glibc
// 2.34+ defines it at GLIBC_2.34, older ones at GLIBC_2.2.5.
extern "C" __attribute__((visibility("hidden"), used)) void memtrace_before_dlsym() noexcept {
  if (__builtin_expect(memtrace_real_dlsym == nullptr, 0)) {
    void* f = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (f == nullptr) f = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    if (f == nullptr) {
      static const char kMsg[] = "memtrace: cannot find the real dlsym; aborting\n";
      (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
      _exit(127);
    }
    __atomic_store_n(&memtrace_real_dlsym, reinterpret_cast<DlsymFn>(f), __ATOMIC_RELEASE);
  }
  // A library opened with RTLD_DEEPBIND is usually reached through dlsym
  // first: its dlopen has returned, so it can be pointed back at our hooks.
  if (memtrace::t_state.guard == 0) memtrace::DeepbindCatchUp();
}

// dlsym(handle, name): the same trampoline as dlopen's.
MT_LOOKAHEAD_TRAMPOLINE(dlsym, memtrace_before_dlsym, memtrace_real_dlsym);
