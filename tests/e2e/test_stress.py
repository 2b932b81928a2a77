"""Cross-thread stress: 8 threads, 2M+ malloc/realloc/free calls, most blocks
freed by another thread, glibc reusing addresses heavily; all freed at the
end. Exactly zero live bytes at this program's sites, and allocs/frees equal
to the program's own counts."""
import unittest

from mtharness import fixture, is_bookkeeping, run_traced, sites_touching


class StressTest(unittest.TestCase):
    def test_cross_thread_frees_are_exact(self):
        run = run_traced([fixture("stress"), "250000"], env={"MEMTRACE_SITES": "all"}, timeout=600)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        truth = run.expectations("stress")[0]
        report = run.report
        mine = sites_touching(report, "StressWorker")
        allocs = sum(s["allocs"] for s in mine)
        frees = sum(s["frees"] for s in mine)
        live_bytes = sum(s["live_bytes"] for s in mine)
        live_blocks = sum(s["live_blocks"] for s in mine)
        # A realloc is reported as the free of the old block plus a new allocation.
        self.assertEqual(allocs, truth["allocs"] + truth["reallocs"])
        self.assertEqual(frees, truth["frees"] + truth["reallocs"])
        self.assertGreater(truth["allocs"], 1900000)
        self.assertEqual(live_bytes, 0)
        self.assertEqual(live_blocks, 0)
        # Nothing else is live but what glibc keeps for its thread-stack cache.
        for s in report["sites"]:
            if s["live_blocks"] and not is_bookkeeping(s):
                fns = " ".join(f["function"] or "" for f in s["frames"])
                self.assertIn("pthread_create", fns, s)
        self.assertEqual(report["tracer"]["dropped_events"], 0)
        self.assertGreaterEqual(report["tracer"]["threads"], 9)


if __name__ == "__main__":
    unittest.main()
