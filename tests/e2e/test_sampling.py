"""Sampling mode (MEMTRACE_SAMPLE_BYTES): live bytes are unbiased estimates
(close to the truth with ~1000 samples), frees of sampled blocks are exact
(fully freed sites read zero), and the report says it is sampling."""
import unittest

from mtharness import fixture, run_traced, sites_with_frame0


class SamplingTest(unittest.TestCase):
    def test_estimates_and_exact_frees(self):
        run = run_traced([fixture("sampling_fixture")], env={"MEMTRACE_SAMPLE_BYTES": "16k"})
        self.assertEqual(run.returncode, 0, run.stderr)
        truth = run.expectations("sampling")[0]["leaked_bytes"]
        report = run.report
        self.assertEqual(report["sampling"], {"period_bytes": 16384, "heap_estimated": True, "overflows": 0})
        leak = sum(s["live_bytes"] for s in sites_with_frame0(report, "leak_sampled"))
        # ~1024 samples: the relative standard error is ~3%; 15% is 5 sigma.
        self.assertLess(abs(leak - truth) / truth, 0.15, (leak, truth))
        self.assertEqual(sum(s["live_bytes"] for s in sites_with_frame0(report, "churn_all_freed")), 0)
        self.assertEqual(report["totals"]["unmatched_frees"], 0)  # unsampled frees leave no event
        # Far fewer events than calls: ~520k allocations were made.
        self.assertLess(report["totals"]["spaces"]["heap"]["allocs"], 50000)

    def test_full_tracing_is_the_default(self):
        run = run_traced([fixture("sampling_fixture")])
        self.assertEqual(run.report["sampling"]["period_bytes"], 0)
        truth = run.expectations("sampling")[0]["leaked_bytes"]
        self.assertEqual(sum(s["live_bytes"] for s in sites_with_frame0(run.report, "leak_sampled")), truth)


if __name__ == "__main__":
    unittest.main()
