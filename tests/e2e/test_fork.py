"""fork: parent and child each get their own exact report (%p in the name)."""
import unittest

from mtharness import bookkeeping, fixture, run_traced


class ForkTest(unittest.TestCase):
    def test_child_gets_fresh_tracer(self):
        run = run_traced([fixture("forker")])
        self.assertEqual(run.returncode, 0, run.stderr)
        truths = {e["role"]: e for e in run.expectations("process")}
        self.assertEqual(set(truths), {"child", "parent"})
        self.assertEqual(set(run.reports), {truths["child"]["pid"], truths["parent"]["pid"]})
        for role, truth in truths.items():
            report = run.reports[truth["pid"]]
            self.assertEqual(report["totals"]["live_bytes"], truth["live_bytes"] + bookkeeping(report)[0], role)
        child = run.reports[truths["child"]["pid"]]
        self.assertGreaterEqual(child["totals"]["frees"], 1000)  # the child's own events were traced

    def test_child_without_pid_in_name_does_not_clobber(self):
        import os, tempfile, shutil
        from mtharness import clean_env, LIB
        import subprocess
        d = tempfile.mkdtemp()
        try:
            out = os.path.join(d, "r.json")
            proc = subprocess.run([fixture("forker")], env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": out}),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(proc.returncode, 0)
            names = sorted(os.listdir(d))
            self.assertEqual(len(names), 2, names)  # r.json (parent) and r.json.<child pid>
            self.assertIn("r.json", names)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
