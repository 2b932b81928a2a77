"""The CI gate (issue 14): MEMTRACE_LEAK_EXIT_CODE replaces the exit status
only when what it counts exceeds MEMTRACE_LEAK_THRESHOLD: by default the bytes
definitely and indirectly lost (LeakSanitizer's rule), in the heap and tracked
mappings, after suppressions; MEMTRACE_LEAK_KINDS chooses other kinds. Clean
programs keep their own status; output written before the gate fires is kept."""
import os
import shutil
import subprocess
import tempfile
import unittest

from mtharness import LIB, clean_env, fixture, run_plain, run_traced, sites_with_frame0

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
GATE = {"MEMTRACE_LEAK_EXIT_CODE": "23"}


def counted(report, kinds=("definite", "indirect", "possible", "reachable")):
    k = report["totals"]["leak_kinds"]
    return sum(k[x]["bytes"] for x in kinds)


class GateTest(unittest.TestCase):
    def test_fires_on_a_definite_leak(self):
        run = run_traced([fixture("endings"), "exit", "0"], env=GATE)
        self.assertEqual(run.returncode, 23, run.stderr)
        self.assertIn(b"1234 bytes definitely lost", run.stderr)
        self.assertIn(b"exit status 23", run.stderr)
        self.assertIn(b"MEMTRACE_EXPECT", run.stdout)  # stdout was flushed
        report = run.report
        lost = sites_with_frame0(report, "lose_here")
        self.assertEqual(sum(s["leak_kinds"]["definite"]["bytes"] for s in lost), 1234)
        kept = sites_with_frame0(report, "leak_here")  # held by a global: not a leak
        self.assertEqual(sum(s["leak_kinds"]["reachable"]["bytes"] for s in kept), 4321)
        self.assertIn("MEMTRACE_LEAK_KINDS=definite,indirect", report["leak_scan"]["gate"])

    def test_reachable_memory_does_not_fire_by_default(self):
        run = run_traced([fixture("leaky")], env=GATE)  # every block it keeps is held by a global
        self.assertEqual(run.returncode, run_plain([fixture("leaky")]).returncode, run.stderr)
        self.assertEqual(counted(run.report, ("definite", "indirect")), 0)

    def test_kinds_and_threshold(self):
        env = dict(GATE, MEMTRACE_LEAK_KINDS="all")
        total = counted(run_traced([fixture("leaky")], env=env).report)
        self.assertGreater(total, 0)
        below = run_traced([fixture("leaky")], env=dict(env, MEMTRACE_LEAK_THRESHOLD=str(total)))
        self.assertEqual(below.returncode, 0)
        above = run_traced([fixture("leaky")], env=dict(env, MEMTRACE_LEAK_THRESHOLD=str(total - 1)))
        self.assertEqual(above.returncode, 23)

    def test_a_suppressions_file_clears_it(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "supp.txt")
            with open(path, "w") as f:
                f.write("# a third-party leak we cannot fix\nleak:lose_here\n")
            run = run_traced([fixture("endings"), "exit", "0"], env=dict(GATE, MEMTRACE_SUPPRESSIONS=path))
            self.assertEqual(run.returncode, 0, run.stderr)
            used = run.report["suppressions_used"]
            self.assertIn({"pattern": "leak:lose_here", "bytes": 1234, "blocks": 1}, used)
            self.assertEqual(run.report["totals"]["leak_kinds"]["suppressed"]["bytes"], 1234)
        finally:
            shutil.rmtree(d)

    def test_program_status_kept_without_leak(self):
        script = "import sys; sys.stdout.write('x' * 100000); sys.exit(5)"
        run = run_traced([PY, "-c", script], env=GATE)
        self.assertEqual(run.returncode, 5, run.stderr)
        self.assertEqual(len(run.stdout), 100000)

    def test_unset_never_changes_status(self):
        run = run_traced([PY, "-c", "import sys; sys.exit(3)"])
        self.assertEqual(run.returncode, 3)
        plain = run_plain([fixture("endings"), "exit", "0"])
        self.assertEqual(run_traced([fixture("endings"), "exit", "0"]).returncode, plain.returncode)

    def test_clean_programs_keep_their_status(self):
        """stdio, threads, iostreams and a dlopen'ed library (scan_clean), and
        real programs: no definite or indirect byte, the program's own status."""
        d = tempfile.mkdtemp()
        try:
            subprocess.run(["git", "init", "-q", d], check=True)
            cases = [[fixture("scan_clean")], [PY, "-c", "pass"], ["sqlite3", ":memory:", "select 1;"],
                     ["git", "-C", d, "status", "--short"]]
            for argv in cases:
                plain = run_plain(argv)
                run = run_traced(argv, env=GATE)
                self.assertEqual(run.returncode, plain.returncode, (argv, run.stderr[-1500:]))
                self.assertTrue(run.reports, argv)
                for report in run.reports.values():
                    self.assertEqual(counted(report, ("definite", "indirect")), 0, argv)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
