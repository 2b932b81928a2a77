"""The tracer's unwinder stays private: under the preload, backtrace() is
still glibc's and _Unwind_* still libgcc's, backtrace() works and C++
exceptions still cross shared libraries."""
import unittest

from mtharness import fixture, run_plain, run_traced


class UnwindPrivacyTest(unittest.TestCase):
    def test_symbols_not_rebound(self):
        plain = run_plain([fixture("unwind_privacy")])
        traced = run_traced([fixture("unwind_privacy")])
        self.assertEqual(plain.returncode, 0, plain.stdout)
        out = traced.stdout.decode()
        self.assertIn("backtrace provided by libc.so.6", out)
        self.assertIn("_Unwind_RaiseException provided by libgcc_s.so.1", out)
        self.assertIn("caught 100 of 100", out)
        self.assertEqual(traced.stdout, plain.stdout)
        self.assertEqual(traced.returncode, 0)
        # The exceptions' allocations were traced and freed.
        self.assertGreaterEqual(traced.report["totals"]["allocs"], 200)


if __name__ == "__main__":
    unittest.main()
