"""Stack bounds without re-entering glibc (issue 13): programs whose threads
call pthread_getattr_np themselves -- every Rust thread at start, every JVM
thread -- used to deadlock when the malloc inside it was the thread's first
traced allocation and the unwinder asked pthread_getattr_np for the bounds
again. They must finish under the preload, with exact numbers."""
import os
import shutil
import subprocess
import tempfile
import unittest

from mtharness import run_traced

HERE = os.path.dirname(os.path.abspath(__file__))


@unittest.skipUnless(shutil.which("rustc"), "rustc is not installed")
class RustThreadsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="memtrace_rust_")
        cls.binary = os.path.join(cls.work, "rust_threads")
        subprocess.run(["rustc", "-O", "-g", "-o", cls.binary, os.path.join(HERE, "rust_threads", "main.rs")],
                       check=True, cwd=cls.work)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_spawned_threads_finish_and_are_counted(self):
        for _ in range(3):
            run = run_traced([self.binary, "32"], timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])
            n, leaked = (int(x) for x in run.stdout.decode().split()[1::2])
            self.assertEqual(n, 32)
            # Each thread's vector: one site, one block per thread, each on its own thread.
            sites = [s for s in run.report["sites"] if s["live_blocks"] == n and s["live_bytes"] == leaked]
            self.assertEqual(len(sites), 1, run.report["sites"][:3])
            self.assertEqual(run.report["tracer"]["threads"], n + 1)
            # Unwound through the thread's whole stack, up to glibc's start_thread.
            self.assertIn("start_thread", [f["function"] for f in sites[0]["frames"]])


@unittest.skipUnless(shutil.which("java"), "java is not installed")
class JavaVersionTest(unittest.TestCase):
    def test_java_version_finishes(self):
        plain = subprocess.run(["java", "-version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        run = run_traced(["java", "-version"], timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertEqual(run.stderr.decode().splitlines()[0], plain.stderr.decode().splitlines()[0])
        self.assertTrue(run.reports)
        doc = next(iter(run.reports.values()))
        self.assertGreater(doc["totals"]["allocs"], 1000)
        self.assertGreater(len(doc["threads"]), 5)  # the JVM's own threads were traced


if __name__ == "__main__":
    unittest.main()
