"""Bad MEMTRACE_* values: the program still runs with identical output; one
clear line per bad variable names it and the default used."""
import unittest

from mtharness import bookkeeping, fixture, run_plain, run_traced

VARS = ["MEMTRACE_TOP", "MEMTRACE_MAX_FRAMES", "MEMTRACE_LEAK_EXIT_CODE", "MEMTRACE_LEAK_THRESHOLD",
        "MEMTRACE_LOG", "MEMTRACE_FORMAT", "MEMTRACE_CLOCK", "MEMTRACE_ENABLE", "MEMTRACE_SITES",
        "MEMTRACE_SAMPLE_BYTES", "MEMTRACE_CUDA", "MEMTRACE_TRACK_MMAP", "MEMTRACE_SIGNAL", "MEMTRACE_INTERVAL",
        "MEMTRACE_KEEP", "MEMTRACE_SAMPLE_PERIOD", "MEMTRACE_UNWIND", "MEMTRACE_LIBC_LINES", "MEMTRACE_MAX_SITES"]


class BadConfigTest(unittest.TestCase):
    def test_every_variable_with_garbage(self):
        plain = run_plain([fixture("semantics")])
        for value in ["garbage", "-1", "99999999999999999999999999", "1e9", "0x10zz"]:
            env = {v: value for v in VARS}
            run = run_traced([fixture("semantics")], env=env)
            self.assertEqual(run.returncode, 0, value)
            self.assertEqual(run.stdout, plain.stdout, value)
            lines = run.stderr.decode().splitlines()
            self.assertEqual(len(lines), len(VARS), lines)
            for v in VARS:
                mine = [l for l in lines if f"invalid {v}=" in l]
                self.assertEqual(len(mine), 1, (v, lines))
                self.assertTrue(mine[0].startswith("memtrace: "))
                self.assertIn("using the default", mine[0])
            # Defaults apply: the report is still written.
            self.assertEqual(run.report["totals"]["live_blocks"], 1 + bookkeeping(run.report)[1])

    def test_empty_values_are_unset(self):
        run = run_traced([fixture("semantics")], env={v: "" for v in VARS})
        self.assertEqual(run.stderr, b"")
        self.assertEqual(run.returncode, 0)

    def test_disable(self):
        run = run_traced([fixture("semantics")], env={"MEMTRACE_ENABLE": "0"})
        self.assertEqual(run.reports, {})
        self.assertEqual(run.returncode, 0)

    def test_max_frames_limits_depth(self):
        run = run_traced([fixture("leaky")], env={"MEMTRACE_MAX_FRAMES": "1"})
        for s in run.report["sites"]:
            self.assertLessEqual(len([f for f in s["frames"] if not f["inlined"]]), 1)

    def test_libunwind_only_is_exact_too(self):
        run = run_traced([fixture("leaky")], env={"MEMTRACE_UNWIND": "libunwind"})
        truth = run.expectations("totals")[0]
        self.assertEqual(run.report["totals"]["live_bytes"], truth["live_bytes"] + bookkeeping(run.report)[0])
        self.assertEqual(run.report["tracer"]["unwinder"], "libgcc")

    def test_counter_clock_is_exact_too(self):
        run = run_traced([fixture("leaky")], env={"MEMTRACE_CLOCK": "counter"})
        truth = run.expectations("totals")[0]
        self.assertEqual(run.report["totals"]["live_bytes"], truth["live_bytes"] + bookkeeping(run.report)[0])
        self.assertEqual(run.report["tracer"]["clock"], "counter")


if __name__ == "__main__":
    unittest.main()
