"""The hooks keep glibc's semantics exactly: the fixture's output (results and
errno of every edge case) is byte-identical with and without the preload."""
import unittest

from mtharness import bookkeeping, fixture, is_bookkeeping, run_plain, run_traced, sites_with_frame0


class SemanticsTest(unittest.TestCase):
    def test_identical_behaviour(self):
        plain = run_plain([fixture("semantics")])
        traced = run_traced([fixture("semantics")])
        self.assertEqual(plain.returncode, 0)
        self.assertNotIn(b"FAIL", plain.stdout)
        self.assertEqual(traced.stdout, plain.stdout)
        self.assertEqual(traced.returncode, plain.returncode)
        self.assertEqual(traced.stderr, b"")
        report = traced.report
        main_sites = sites_with_frame0(report, "main")
        self.assertEqual(sum(s["live_bytes"] for s in main_sites), 8)
        self.assertEqual(sum(s["live_blocks"] for s in main_sites), 1)
        # The only other live blocks: glibc's own (stdout's buffer, allocated
        # by printf; maybe the atexit list).
        others = [s for s in report["sites"] if s not in main_sites]
        self.assertTrue(all(is_bookkeeping(s) for s in others), others)
        self.assertIn("_IO_file_doallocate", [s["frames"][0]["function"] for s in others])
        self.assertEqual(report["totals"]["live_blocks"], 1 + bookkeeping(report)[1])


if __name__ == "__main__":
    unittest.main()
