"""What a mapping costs: reserved, committed (not PROT_NONE, mprotect of part
of a mapping included) and resident bytes per site and per space, exact for
a fixture that knows them; the text report lists heap sites first and
mappings by resident bytes; real programs' runtime mappings are labelled and
never outnumber what is resident."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from mtharness import LIB, build_go, clean_env, fixture, load, run_traced

PY = "/usr/bin/python3"


def frame0(site):
    return site["frames"][0] if site["frames"] else {}


class FixtureCostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.traced = run_traced([fixture("cost_fixture")])
        cls.report = cls.traced.report

    def test_runs(self):
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr[-2000:])

    def test_reserved_committed_resident_exact(self):
        expected = self.traced.expectations("cost")
        self.assertEqual(len(expected), 3)
        for e in expected:
            sites = [s for s in self.report["sites"]
                     if frame0(s).get("function") == "main" and frame0(s).get("line") == e["line"]]
            self.assertEqual(len(sites), 1, e)
            s = sites[0]
            self.assertEqual(s["space"], "anon_mmap")
            self.assertIsNone(s["label"])
            self.assertEqual((s["reserved_bytes"], s["committed_bytes"], s["resident_bytes"]),
                             (e["reserved"], e["committed"], e["resident"]), e)
            self.assertEqual(s["live_bytes"], e["reserved"])

    def test_space_totals(self):
        anon = self.report["totals"]["spaces"]["anon_mmap"]
        sites = [s for s in self.report["sites"] if s["space"] == "anon_mmap"]
        for field in ("reserved_bytes", "committed_bytes", "resident_bytes"):
            self.assertEqual(anon[field], sum(s[field] for s in sites), field)
        self.assertEqual(anon["reserved_bytes"], anon["live_bytes"])
        self.assertLessEqual(anon["resident_bytes"], self.report["totals"]["rss_bytes"])

    def test_heap_leak_is_the_text_reports_first_site(self):
        (leak,) = self.traced.expectations("heap_leak")
        run = run_traced([fixture("cost_fixture")], env={"MEMTRACE_OUTPUT": ""})
        text = run.stderr.decode()
        first = text.index("\n#1  ")
        self.assertTrue(text[first:].startswith("\n#1  100000 bytes live in 1 blocks"), text[first:first + 300])
        self.assertIn("cost_fixture.c:%d" % leak["line"], text[first:first + 400])
        # Mappings come after, the one with resident bytes before the bare reservations.
        mapped = text.index("mapping sites by resident bytes")
        self.assertLess(first, mapped)
        self.assertIn("reserved 256.0 MiB, committed 256.0 MiB, resident 4.0 MiB", text)
        self.assertLess(text.index("resident 4.0 MiB"), text.index("reserved 1.0 GiB, committed 0 B, resident 0 B"))


PY_SCRIPT = r"""
import os, sys
import numpy as np
keep = [str(i) * 3 for i in range(300000)]   # Python objects: pymalloc arenas
leak = np.ones(1234567, dtype=np.uint8)     # a C extension's allocation, never freed
sys.stdout.write("numpy %s\n" % np.__version__)
sys.stdout.flush()
os._exit(0)                                 # no interpreter teardown: the array stays live
"""

HERE = os.path.dirname(os.path.abspath(__file__))


def module_of(report, frame):
    return os.path.basename(frame["module"] or "")


class RealProgramsTest(unittest.TestCase):
    def test_python_numpy(self):
        if not os.path.exists(PY) or subprocess.run([PY, "-c", "import numpy"], env=clean_env()).returncode != 0:
            self.skipTest("Debian's python3 with numpy (python3-numpy) is not installed")
        run = run_traced([PY, "-c", PY_SCRIPT])
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        report = run.report
        # The extension's leak: a heap site of exactly its bytes in numpy's module.
        leaks = [s for s in report["sites"] if s["space"] == "heap" and s["live_bytes"] == 1234567]
        self.assertEqual(len(leaks), 1)
        self.assertTrue(module_of(report, leaks[0]["frames"][0]).startswith("_multiarray_umath"))
        # pymalloc's arenas: every mapping the interpreter itself made is labelled.
        arenas = [s for s in report["sites"] if s["space"] == "anon_mmap" and s["frames"]
                  and module_of(report, s["frames"][0]).startswith("python3")]
        self.assertTrue(arenas)
        for s in arenas:
            self.assertEqual(s["label"], "pymalloc arena")
            self.assertLessEqual(s["resident_bytes"], s["committed_bytes"])
            self.assertLessEqual(s["committed_bytes"], s["reserved_bytes"])
        anon = report["totals"]["spaces"]["anon_mmap"]
        self.assertLessEqual(anon["resident_bytes"], report["totals"]["rss_bytes"])
        # In the text report the leak comes before any arena.
        text = run_traced([PY, "-c", PY_SCRIPT], env={"MEMTRACE_OUTPUT": "", "MEMTRACE_TOP": "50"}).stderr.decode()
        self.assertLess(text.index("1234567 bytes live in 1 blocks"), text.index("pymalloc arena"))

    def test_go_cgo_resident_within_rss(self):
        if shutil.which("go") is None:
            self.skipTest("no Go toolchain")
        work = tempfile.mkdtemp(prefix="memtrace_gocost_")
        try:
            binary = build_go("go_cgo", work, "go_cgo")
            out = os.path.join(work, "r.%n.json")
            subprocess.run([binary, "1200"], env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": out,
                                                            "MEMTRACE_INTERVAL": "250ms", "MEMTRACE_KEEP": "100"}),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=True)
            reports = [load(p) for p in sorted(glob.glob(os.path.join(work, "r.*.json")))]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        live = [r for r in reports if r["reason"] == "interval"]  # taken while the program ran
        self.assertTrue(live)
        for r in live:
            anon = r["totals"]["spaces"]["anon_mmap"]
            # Go reserves hundreds of MiB of address space through libc's mmap under cgo: what is
            # resident is what the process holds, never more than its RSS.
            self.assertGreater(anon["reserved_bytes"], r["totals"]["rss_bytes"])
            self.assertLessEqual(anon["resident_bytes"], r["totals"]["rss_bytes"])
            self.assertLess(anon["committed_bytes"], anon["reserved_bytes"])
            runtime = [s for s in r["sites"] if s["space"] == "anon_mmap"]
            self.assertTrue(runtime)
            for s in runtime:
                self.assertIn(s["label"], ("Go heap", "Go runtime"), [f["function"] for f in s["frames"][:6]])
        # After the process ended (exit_group) nothing is resident any more: not measured.
        final = [r for r in reports if r["reason"] == "exit"]
        for r in final:
            self.assertNotIn("resident_bytes", r["totals"]["spaces"]["anon_mmap"])


if __name__ == "__main__":
    unittest.main()
