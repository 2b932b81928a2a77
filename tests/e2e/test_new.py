"""operator new/delete in every form, through libstdc++ (which allocates with
malloc) and in programs linked with jemalloc and tcmalloc, whose operator
new never calls malloc: every leak exact at its line, frame 0 the caller of
new; churn through sized, aligned and nothrow deletes leaves nothing live
and counts each block once."""
import os
import unittest

from mtharness import fixture, run_traced


def f0_key(site):
    f0 = site["frames"][0]
    return (f0["function"], os.path.basename(f0["file"] or ""), f0["line"])


class NewDeleteTest(unittest.TestCase):
    def check(self, name):
        if not os.path.exists(fixture(name)):
            self.skipTest(f"{name} not built (its allocator's -dev package is missing)")
        run = run_traced([fixture(name)])
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        report = run.report
        sites = {}
        for s in report["sites"]:
            if s["space"] == "heap" and s["frames"]:
                sites.setdefault(f0_key(s), []).append(s)
        expected = run.expectations("site")
        self.assertEqual(len(expected), 8)
        for e in expected:
            key = (e["function"], os.path.basename(e["file"]), e["line"])
            got = sites.get(key, [])
            self.assertEqual(sum(s["live_bytes"] for s in got), e["live_bytes"], (name, key))
            self.assertEqual(sum(s["live_blocks"] for s in got), e["live_blocks"], (name, key))
            self.assertEqual(sum(s["allocs"] for s in got), 1, (name, key))  # once: the inner malloc is not another
        (churn,) = run.expectations("churn")
        rows = [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == churn["function"]]
        self.assertEqual(sum(s["live_bytes"] for s in rows), 0, name)
        # Freed sites are listed only with MEMTRACE_SITES=all: run again for the counts.
        run = run_traced([fixture(name)], env={"MEMTRACE_SITES": "all"})
        rows = [s for s in run.report["sites"] if s["frames"] and s["frames"][0]["function"] == churn["function"]]
        self.assertEqual(sum(s["allocs"] for s in rows), churn["allocs"], name)
        self.assertEqual(sum(s["frees"] for s in rows), churn["allocs"], name)
        self.assertEqual(run.report["totals"]["unmatched_frees"], 0, name)
        return run.report

    def test_libstdcxx(self):
        self.check("newleak")

    def test_jemalloc(self):
        report = self.check("newleak_jemalloc")
        # jemalloc's own mappings are labelled as such, not the program's.
        for s in report["sites"]:
            if s["space"] == "anon_mmap":
                self.assertEqual(s["label"], "jemalloc extent", s["frames"][:3])

    def test_tcmalloc(self):
        self.check("newleak_tcmalloc")


if __name__ == "__main__":
    unittest.main()
