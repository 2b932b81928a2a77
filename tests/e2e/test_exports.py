"""libmemtrace.so exports only its hooks and the public API."""
import os
import re
import subprocess
import unittest

from mtharness import LIB

ALLOWED = {"malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign", "aligned_alloc",
           "valloc", "pvalloc", "malloc_usable_size", "mmap", "mmap64", "munmap", "mremap", "sigaction",
           "signal", "pthread_create", "pthread_join", "pthread_tryjoin_np", "pthread_timedjoin_np",
           "pthread_clockjoin_np", "pthread_detach", "pthread_setname_np", "prctl", "cudaMalloc", "cudaFree",
           "cudaMallocHost", "cudaHostAlloc", "cudaFreeHost", "cudaMallocManaged", "cudaMallocPitch", "cudaMalloc3D",
           "cudaMallocAsync", "cudaMallocFromPoolAsync", "cudaFreeAsync", "dlopen", "dlclose", "_exit", "_Exit", "exit", "__libc_start_main", "__cxa_atexit",
           "waitpid", "wait3", "wait4", "waitid", "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve", "execveat", "mprotect", "dlsym",
           # operator new and delete, every form (C++17)
           "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
           "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
           "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
           "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
           "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t"}


class ExportsTest(unittest.TestCase):
    def test_only_hooks_and_api(self):
        out = subprocess.run(["nm", "-D", "--defined-only", LIB], stdout=subprocess.PIPE, check=True).stdout.decode()
        names = {line.split()[-1] for line in out.splitlines() if line.strip()}
        extra = {n for n in names if n not in ALLOWED and not n.startswith("memtrace_")}
        self.assertEqual(extra, set())
        self.assertTrue(ALLOWED <= names)

    def test_preload_needs_only_the_c_and_cxx_runtimes(self):
        # What the preload brings into every traced program: nothing the
        # program could also load in another version (abseil, fmt, libunwind
        # live in libmemtrace_watcher.so, which only the watcher process loads).
        self.assertEqual(set(needed(LIB)) - {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6",
                                             "ld-linux-x86-64.so.2"}, set())

    def test_watcher_object_next_to_the_preload(self):
        watcher = os.path.join(os.path.dirname(LIB), "libmemtrace_watcher.so")
        self.assertTrue(os.path.exists(watcher))
        out = subprocess.run(["nm", "-D", "--defined-only", watcher], stdout=subprocess.PIPE, check=True).stdout.decode()
        self.assertEqual({line.split()[-1] for line in out.splitlines() if line.strip()}, {"memtrace_watcher_main"})


def needed(path):
    out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, check=True).stdout.decode()
    return re.findall(r"\[(.*?)\]", "\n".join(l for l in out.splitlines() if "NEEDED" in l))


# A program whose exit handlers print: atexit, C++ static destructors (both
# registered through __cxa_atexit, which libmemtrace hooks: a watcher process
# registers nothing, the program everything), and a library's static
# destructor run by dlclose (__cxa_finalize on its handle).
EXIT_HANDLERS_LIB = r"""
#include <cstdio>
struct Lib { ~Lib() { std::printf("library destructor\n"); std::fflush(stdout); } } lib_object;
"""
EXIT_HANDLERS_MAIN = r"""
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
struct Obj { const char* name; ~Obj() { std::printf("destructor %s\n", name); } };
Obj first{"first"};
static void handler() { std::printf("atexit handler\n"); }
int main(int argc, char** argv) {
  static Obj local{"function-local"};
  std::atexit(handler);
  void* h = dlopen(argv[1], RTLD_NOW);
  if (h == nullptr || dlclose(h) != 0) return 3;
  std::printf("main done\n");
  return argc == 2 ? 0 : 4;
}
"""


class ExitHandlersTest(unittest.TestCase):
    def test_exit_handlers_run_in_the_traced_program(self):
        import tempfile
        from mtharness import run_plain, run_traced
        d = tempfile.mkdtemp(prefix="memtrace_atexit_")
        self.addCleanup(__import__("shutil").rmtree, d, True)
        for name, text in (("lib.cc", EXIT_HANDLERS_LIB), ("main.cc", EXIT_HANDLERS_MAIN)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        lib, prog = os.path.join(d, "libh.so"), os.path.join(d, "prog")
        subprocess.run(["c++", "-O1", "-shared", "-fPIC", "-o", lib, os.path.join(d, "lib.cc")], check=True)
        subprocess.run(["c++", "-O1", "-o", prog, os.path.join(d, "main.cc"), "-ldl"], check=True)
        plain = run_plain([prog, lib])
        self.assertEqual(plain.returncode, 0)
        self.assertEqual(plain.stdout.decode().splitlines(),
                         ["library destructor", "main done", "atexit handler", "destructor function-local",
                          "destructor first"])
        run = run_traced([prog, lib])
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertEqual(run.stdout, plain.stdout)
        self.assertEqual(run.report["end"]["how"], "exit")


if __name__ == "__main__":
    unittest.main()
