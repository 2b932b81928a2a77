"""Frames without unwind tables: generated code (a JIT's) that keeps a frame
pointer is walked through, not a dead end, and is named from the perf map
the program wrote (/tmp/perf-PID.map)."""
import os
import unittest

from mtharness import fixture, run_traced


class JitFramesTest(unittest.TestCase):
    def test_generated_frame_named_and_walked_through(self):
        run = run_traced([fixture("jit_fixture"), "8"])
        words = run.stdout.decode().split()
        try:
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])
            n = int(words[2])
            sites = [s for s in run.report["sites"] if s["frames"] and s["frames"][0]["function"] == "jit_alloc_thunk"]
            self.assertEqual(len(sites), 1, [[f["function"] for f in s["frames"][:3]] for s in run.report["sites"]])
            site = sites[0]
            self.assertEqual(site["live_blocks"], n)
            self.assertEqual(site["live_bytes"], n * 777)
            self.assertTrue(site["frames"][0]["module"].startswith("[perf-"), site["frames"][0])
            # Past the generated frame, by its frame pointer: the C caller and main.
            fns = [f["function"] for f in site["frames"]]
            self.assertEqual(fns[1:3], ["call_jit", "main"], fns)
        finally:
            if len(words) > 6 and words[-1].startswith("/tmp/perf-"):
                os.unlink(words[-1])


if __name__ == "__main__":
    unittest.main()
