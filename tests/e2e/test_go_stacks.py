"""Go callers under cgo: the unwinder follows C code back into the goroutine
that called it (runtime.asmcgocall's saved g and depth, then Go's frame
pointers on the goroutine's stack), and Go frames are named from the Go
binary's DWARF (whose .debug_aranges covers only its C objects)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from mtharness import build_go, LIB, clean_env, load

HERE = os.path.dirname(os.path.abspath(__file__))


def functions(site):
    return [f["function"] for f in site["frames"]]


class GoStacksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="memtrace_gostacks_")
        cls.binary = build_go("go_stacks", cls.work, "gostacks")
        # Without Go's DWARF (-w): frames named from the Go symbol table (pclntab).
        cls.nodwarf = build_go("go_stacks", cls.work, "gostacks_nodwarf", "-ldflags=-w")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def signal_report(self, args, env=None, binary=None):
        """Runs the fixture under the preload, takes a SIGUSR2 report once it
        printed its first line, lets it finish. (line, report)."""
        out = os.path.join(self.work, "r.%n.json")
        for f in os.listdir(self.work):
            if f.startswith("r."):
                os.unlink(os.path.join(self.work, f))
        p = subprocess.Popen([binary or self.binary] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             env=clean_env(dict(env or {}, LD_PRELOAD=LIB, MEMTRACE_OUTPUT=out)))
        try:
            line = p.stdout.readline().decode()
            os.kill(p.pid, signal.SIGUSR2)
            deadline = time.time() + 30
            while time.time() < deadline and not any(f.startswith("r.") for f in os.listdir(self.work)):
                time.sleep(0.05)
            time.sleep(0.2)  # written whole, then renamed: present means complete
            p.communicate(b"\n", timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0)
        files = sorted(f for f in os.listdir(self.work) if f.startswith("r."))
        self.assertTrue(files, "no report")
        # The signal's report (the watcher also writes the final one at exit_group).
        docs = [load(os.path.join(self.work, f)) for f in files]
        signal_docs = [d for d in docs if d["reason"] == "signal"]
        return line, (signal_docs or docs)[0]

    def test_leaked_handle_names_its_go_callers(self):
        line, report = self.signal_report(["reload", "5"])
        self.assertEqual(report["reason"], "signal")
        total = int(line.split()[2])
        sites = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == "handle_create"]
        self.assertEqual(sum(s["live_bytes"] for s in sites), total)
        self.assertEqual(sum(s["live_blocks"] for s in sites), 10)
        for s in sites:
            fns = functions(s)
            # C, the cgo switch, then the goroutine's frames, innermost first.
            chain = ["handle_create", "runtime.asmcgocall", "runtime.cgocall", "main.loadModel", "main.reload",
                     "main.main", "runtime.main"]
            self.assertEqual([f for f in fns if f in chain], chain, fns)
            go = [f for f in s["frames"] if f["function"] in ("main.loadModel", "main.reload")]
            self.assertTrue(all(f["file"].endswith("main.go") and f["line"] > 0 for f in go), go)

    def test_go_frames_without_dwarf_from_pclntab(self):
        def go_frames(binary):
            _, report = self.signal_report(["reload", "3"], binary=binary)
            site = next(s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == "handle_create")
            keep = ("main.loadModel", "main.reload", "main.main", "runtime.cgocall", "runtime.main")
            return [(f["function"], f["file"], f["line"]) for f in site["frames"] if f["function"] in keep]
        with_dwarf = go_frames(self.binary)
        self.assertEqual(len(with_dwarf), 5, with_dwarf)
        self.assertEqual(go_frames(self.nodwarf), with_dwarf)

    def test_runtime_frames_have_their_own_lines(self):
        _, report = self.signal_report(["reload", "1"])
        mmaps = [s for s in report["sites"] if "runtime.sysReserve" in functions(s)]
        self.assertTrue(mmaps)
        for s in mmaps:
            f = next(f for f in s["frames"] if f["function"] == "runtime.sysReserve")
            self.assertTrue(f["file"].endswith("runtime/mem.go"), f)  # was gcc_mmap.c:37 for every Go frame
            files = {os.path.basename(f["file"] or "") for f in s["frames"] if f["function"].startswith("runtime.")}
            self.assertGreater(len(files), 3, files)

    def test_thousand_goroutines_calling_c(self):
        line, report = self.signal_report(["many", "1000", "100"], env={"MEMTRACE_SITES": "all"})
        calls = int(line.split()[1])
        self.assertEqual(calls, 100000)
        sites = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == "scratch"]
        self.assertEqual(sum(s["allocs"] for s in sites), calls)
        self.assertEqual(sum(s["live_bytes"] for s in sites), 0)
        # Every stack reached the goroutine's function through the cgo switch.
        for s in sites:
            self.assertIn("main.main.func1", functions(s))


if __name__ == "__main__":
    unittest.main()
