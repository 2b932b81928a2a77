"""RTLD_DEEPBIND: a library that binds to libc's malloc directly is pointed
back at the tracer once its dlopen returned: its 3,000-byte leak is seen at
its line, its free of a block the program allocated is matched (no false
1,000-byte leak in main), and one line on stderr and the report say so."""
import unittest

from mtharness import fixture, run_traced


class DeepbindTest(unittest.TestCase):
    def check(self, args):
        run = run_traced([fixture("deepbind_fixture")] + args)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        (e,) = run.expectations("deepbind")
        report = run.report
        sites = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == e["function"]]
        self.assertEqual(sum(s["live_bytes"] for s in sites), e["bytes"], args)
        self.assertEqual([s["frames"][0]["line"] for s in sites], [e["line"]])
        # The block main allocated and the library freed is gone.
        mains = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == "main"]
        self.assertEqual(mains, [], args)
        self.assertEqual(report["totals"]["unmatched_frees"], 0)
        (lib,) = report["tracer"]["deepbind"]
        self.assertEqual(lib["path"], e["path"])
        self.assertTrue(lib["caught_up"])
        self.assertGreaterEqual(lib["redirected"], 2)  # malloc and free at least
        lines = [l for l in run.stderr.decode().splitlines() if "RTLD_DEEPBIND" in l]
        self.assertEqual(len(lines), 1, run.stderr.decode())
        self.assertIn(e["path"], lines[0])

    def test_now(self):
        self.check([])

    def test_lazy(self):
        self.check(["lazy"])


if __name__ == "__main__":
    unittest.main()
