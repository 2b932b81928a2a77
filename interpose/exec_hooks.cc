// Hooks for the exec family. They only say "an exec is under way" to the
// watcher (a flag in the region), so that when this image is replaced -- or
// the new one dies moments later -- the old image's watcher leaves without a
// report instead of taking the new image's end for its own. glibc's execl*,
// execv* and execvp* call execve inside libc, not through our symbol, so
// each is hooked. A failed exec clears the flag.
#include <dlfcn.h>
#include <stdarg.h>
#include <unistd.h>

#include <atomic>

#include "interpose/real.h"

namespace memtrace {
// src/runtime.cc
void RuntimeExecStarting(bool starting) noexcept;
}  // namespace memtrace

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using memtrace::real::Next;

using ExecveFn = int(const char*, char* const[], char* const[]);
using ExecvFn = int(const char*, char* const[]);
using FexecveFn = int(int, char* const[], char* const[]);
using ExecveatFn = int(int, const char*, char* const[], char* const[], int);
std::atomic<ExecveFn*> g_execve{nullptr};
std::atomic<ExecvFn*> g_execv{nullptr};
std::atomic<ExecvFn*> g_execvp{nullptr};
std::atomic<ExecveFn*> g_execvpe{nullptr};
std::atomic<FexecveFn*> g_fexecve{nullptr};
std::atomic<ExecveatFn*> g_execveat{nullptr};

// Marks the exec, runs it, and clears the mark if it returned (failed).
template <typename Call>
int Exec(Call call) {
  memtrace::RuntimeExecStarting(true);
  int rc = call();
  memtrace::RuntimeExecStarting(false);
  return rc;
}

// The arguments of an execl-style call, as an argv array on our stack.
#define MT_COLLECT_ARGS(first, argv, envp_out)                     \
  va_list ap;                                                      \
  size_t n = 1;                                                    \
  va_start(ap, first);                                             \
  while (va_arg(ap, char*) != nullptr) ++n;                        \
  va_end(ap);                                                      \
  char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*))); \
  va_start(ap, first);                                             \
  argv[0] = const_cast<char*>(first);                              \
  for (size_t i = 1; i <= n; ++i) argv[i] = va_arg(ap, char*);     \
  envp_out;                                                        \
  va_end(ap)

}  // namespace

MT_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  return Exec([&] { return Next(g_execve, "execve")(path, argv, envp); });
}

MT_EXPORT int execv(const char* path, char* const argv[]) {
  return Exec([&] { return Next(g_execv, "execv")(path, argv); });
}

MT_EXPORT int execvp(const char* file, char* const argv[]) {
  return Exec([&] { return Next(g_execvp, "execvp")(file, argv); });
}

MT_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  return Exec([&] { return Next(g_execvpe, "execvpe")(file, argv, envp); });
}

MT_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  return Exec([&] { return Next(g_fexecve, "fexecve")(fd, argv, envp); });
}

MT_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  return Exec([&] { return Next(g_execveat, "execveat")(dirfd, path, argv, envp, flags); });
}

MT_EXPORT int execl(const char* path, const char* arg, ...) {
  MT_COLLECT_ARGS(arg, argv, (void)0);
  return execv(path, argv);
}

MT_EXPORT int execlp(const char* file, const char* arg, ...) {
  MT_COLLECT_ARGS(arg, argv, (void)0);
  return execvp(file, argv);
}

MT_EXPORT int execle(const char* path, const char* arg, ...) {
  char* const* envp = nullptr;
  MT_COLLECT_ARGS(arg, argv, envp = va_arg(ap, char* const*));
  return execve(path, argv, envp);
}
