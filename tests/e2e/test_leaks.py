"""Known leaks from known sites (C and C++, every allocation function): the
report's totals and per-site numbers are exact and frame 0 names the function
and file:line of the allocating call."""
import os
import unittest

from mtharness import bookkeeping, fixture, is_bookkeeping, run_traced


class LeakReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = run_traced([fixture("leaky")])

    def test_runs_cleanly(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stderr, b"")

    def test_totals_are_exact(self):
        expected = self.result.expectations("totals")[0]
        totals = self.result.report["totals"]
        extra_bytes, extra_blocks = bookkeeping(self.result.report)
        self.assertEqual(totals["live_bytes"], expected["live_bytes"] + extra_bytes)
        self.assertEqual(totals["live_blocks"], expected["live_blocks"] + extra_blocks)
        self.assertEqual(self.result.report["schema"], "memtrace/2")
        self.assertEqual(self.result.report["reason"], "exit")
        self.assertGreaterEqual(totals["allocs"], 16 + 1000 * 2 + 600)
        self.assertEqual(totals["allocs"] - totals["frees"], totals["live_blocks"])
        self.assertEqual(self.result.report["tracer"]["dropped_events"], 0)

    def test_every_site_exact_with_file_and_line(self):
        report = self.result.report
        sites = {}
        for s in report["sites"]:
            f0 = s["frames"][0]
            sites[(f0["function"], os.path.basename(f0["file"] or ""), f0["line"])] = s
        for e in self.result.expectations("site"):
            key = (e["function"], os.path.basename(e["file"]), e["line"])
            self.assertIn(key, sites, f"missing site {key}; have {sorted(sites)}")
            self.assertEqual(sites[key]["live_bytes"], e["live_bytes"], key)
            self.assertEqual(sites[key]["live_blocks"], e["live_blocks"], key)
        own = [s for s in report["sites"] if not is_bookkeeping(s)]
        self.assertEqual(len(own), len(self.result.expectations("site")))

    def test_sites_sorted_and_modules_named(self):
        report = self.result.report
        live = [s["live_bytes"] for s in report["sites"]]
        self.assertEqual(live, sorted(live, reverse=True))
        paths = {m["path"] for m in report["modules"]}
        self.assertIn(os.path.realpath(fixture("leaky")), {os.path.realpath(p) for p in paths})
        for m in report["modules"]:
            if m["path"].endswith("/leaky"):
                self.assertRegex(m["build_id"], r"^[0-9a-f]{40}$")
        for s in report["sites"]:
            for f in s["frames"]:
                self.assertIn("module", f)
                self.assertIsInstance(f["offset"], int)

    def test_all_sites_mode_shows_freed_sites(self):
        run = run_traced([fixture("leaky")], env={"MEMTRACE_SITES": "all"})
        churn = [s for s in run.report["sites"] if s["frames"][0]["function"] == "new_and_delete()"]
        self.assertTrue(churn)
        self.assertEqual(sum(s["live_bytes"] for s in churn), 0)
        # 6 operator-new forms x 100 iterations, each freed: new goes through malloc.
        self.assertEqual(sum(s["allocs"] for s in churn), 600)
        self.assertEqual(sum(s["frees"] for s in churn), 600)

    def test_text_report(self):
        run = run_traced([fixture("leaky")], env={"MEMTRACE_OUTPUT": "", "MEMTRACE_TOP": "3"})
        text = run.stderr.decode()
        self.assertIn("memtrace report #1 (exit)", text)
        self.assertRegex(text, r"== Top 3 of 1[34] call sites by live bytes ==")
        self.assertIn("at leak_realloc (", text)
        self.assertIn("leaky_c.c:", text)


if __name__ == "__main__":
    unittest.main()
