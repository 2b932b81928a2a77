// The tracer's unwinder must not rebind the program's backtrace() or
// _Unwind_* (libunwind exports both). This program prints which object
// provides each, takes a backtrace, and catches exceptions thrown across a
// shared library. The runner compares the output with and without the
// preload.
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>

#include <stdexcept>

extern "C" void thrower_throw(int depth);

static const char* Provider(const char* symbol) {
  void* addr = dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (addr == nullptr || dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "(none)";
  const char* slash = strrchr(info.dli_fname, '/');
  return slash != nullptr ? slash + 1 : info.dli_fname;
}

__attribute__((noinline)) int TakeBacktrace() {
  void* frames[64];
  return backtrace(frames, 64);
}

int main() {
  for (const char* s : {"backtrace", "_Unwind_RaiseException", "_Unwind_Backtrace", "_Unwind_GetIP"}) {
    printf("%s provided by %s\n", s, Provider(s));
  }
  printf("backtrace() returned frames: %s\n", TakeBacktrace() >= 3 ? "yes" : "no");
  int caught = 0;
  for (int i = 0; i < 100; ++i) {
    try {
      thrower_throw(i % 10);
    } catch (const std::runtime_error& e) {
      if (strstr(e.what(), "libthrower") != nullptr) ++caught;
    }
  }
  printf("caught %d of 100 exceptions thrown across libthrower.so\n", caught);
  return caught == 100 ? 0 : 1;
}
