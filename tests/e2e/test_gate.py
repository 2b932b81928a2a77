"""The CI gate: MEMTRACE_LEAK_EXIT_CODE replaces the exit status only when
live bytes at exit exceed MEMTRACE_LEAK_THRESHOLD; otherwise the program's
own status is kept. Output written before the gate fires is not lost."""
import unittest

from mtharness import fixture, run_traced
from mtharness import run_plain

import os
import shutil

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


class GateTest(unittest.TestCase):
    def test_fires_on_leak(self):
        run = run_traced([fixture("leaky")], env={"MEMTRACE_LEAK_EXIT_CODE": "23"})
        self.assertEqual(run.returncode, 23)
        self.assertIn(b"exit status 23", run.stderr)
        self.assertIn(b"MEMTRACE_EXPECT", run.stdout)  # stdout was flushed

    def test_threshold_keeps_status(self):
        total = run_traced([fixture("leaky")]).report["totals"]["live_bytes"]
        below = run_traced([fixture("leaky")], env={"MEMTRACE_LEAK_EXIT_CODE": "23",
                                                    "MEMTRACE_LEAK_THRESHOLD": str(total)})
        self.assertEqual(below.returncode, 0)
        above = run_traced([fixture("leaky")], env={"MEMTRACE_LEAK_EXIT_CODE": "23",
                                                    "MEMTRACE_LEAK_THRESHOLD": str(total - 1)})
        self.assertEqual(above.returncode, 23)

    def test_program_status_kept_without_leak(self):
        script = "import sys; sys.stdout.write('x' * 100000); sys.exit(5)"
        run = run_traced([PY, "-c", script],
                         env={"MEMTRACE_LEAK_EXIT_CODE": "23", "MEMTRACE_LEAK_THRESHOLD": "1G"})
        self.assertEqual(run.returncode, 5)
        self.assertEqual(len(run.stdout), 100000)

    def test_unset_never_changes_status(self):
        run = run_traced([PY, "-c", "import sys; sys.exit(3)"])
        self.assertEqual(run.returncode, 3)
        plain = run_plain([fixture("leaky")])
        self.assertEqual(run_traced([fixture("leaky")]).returncode, plain.returncode)


if __name__ == "__main__":
    unittest.main()
