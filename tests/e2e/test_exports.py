"""libmemtrace.so exports only its hooks and the public API."""
import re
import subprocess
import unittest

from mtharness import LIB

ALLOWED = {"malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign", "aligned_alloc",
           "valloc", "pvalloc", "malloc_usable_size", "mmap", "mmap64", "munmap", "mremap", "sigaction",
           "signal", "pthread_create", "pthread_join", "pthread_tryjoin_np", "pthread_timedjoin_np",
           "pthread_clockjoin_np", "pthread_detach", "pthread_setname_np", "prctl", "cudaMalloc", "cudaFree",
           "cudaMallocHost", "cudaHostAlloc", "cudaFreeHost", "cudaMallocManaged", "cudaMallocPitch", "cudaMalloc3D",
           "cudaMallocAsync", "cudaMallocFromPoolAsync", "cudaFreeAsync", "dlopen", "dlclose", "_exit", "_Exit", "exit", "__libc_start_main",
           "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve", "execveat"}


class ExportsTest(unittest.TestCase):
    def test_only_hooks_and_api(self):
        out = subprocess.run(["nm", "-D", "--defined-only", LIB], stdout=subprocess.PIPE, check=True).stdout.decode()
        names = {line.split()[-1] for line in out.splitlines() if line.strip()}
        extra = {n for n in names if n not in ALLOWED and not n.startswith("memtrace_")}
        self.assertEqual(extra, set())
        self.assertTrue(ALLOWED <= names)

    def test_no_libunwind_dependency(self):
        out = subprocess.run(["readelf", "-d", LIB], stdout=subprocess.PIPE, check=True).stdout.decode()
        needed = re.findall(r"\[(.*?)\]", "\n".join(l for l in out.splitlines() if "NEEDED" in l))
        self.assertFalse([n for n in needed if "unwind" in n], needed)


if __name__ == "__main__":
    unittest.main()
