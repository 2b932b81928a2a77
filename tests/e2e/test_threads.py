"""Thread churn and exit with running threads."""
import unittest

from mtharness import fixture, run_traced, sites_with_frame0


class ThreadChurnTest(unittest.TestCase):
    def test_many_short_threads_exact(self):
        run = run_traced([fixture("thread_churn"), "5000"])
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        truth = run.expectations("churn")[0]
        report = run.report
        leak = sites_with_frame0(report, "churn_worker")
        self.assertEqual(sum(s["live_bytes"] for s in leak), truth["leaked_bytes"])
        self.assertEqual(sum(s["live_blocks"] for s in leak), truth["leaked_blocks"])
        self.assertEqual(report["totals"]["unmatched_frees"], 0)
        self.assertEqual(report["totals"]["replaced_blocks"], 0)
        self.assertEqual(report["tracer"]["dropped_events"], 0)
        self.assertEqual(report["tracer"]["untraced_threads"], 0)
        self.assertGreaterEqual(report["tracer"]["threads"], truth["threads"] + 1)
        # busy_worker's blocks are freed right after allocation; at most one
        # per thread can be caught live by the exit.
        busy = sites_with_frame0(report, "busy_worker")
        self.assertLessEqual(sum(s["live_blocks"] for s in busy), 2)
        # Everything else live is glibc's thread-stack cache (DTVs).
        for s in report["sites"]:
            if s not in leak and s not in busy:
                fns = " ".join(f["function"] or "" for f in s["frames"])
                self.assertIn("pthread_create", fns, s)


if __name__ == "__main__":
    unittest.main()
