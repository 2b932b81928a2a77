"""Start-up: tracing starts at the first hooked call, so work done by the
constructors of libraries initialised before libmemtrace's own (a thread, its
heap block and mapping; a C++ static initializer's leak) is traced exactly,
and what predates tracing is reported as such."""
import unittest

from mtharness import fixture, run_traced


def site_at(report, function, line, space):
    """The site whose frame 0 is `function` (its name before any argument
    list or namespace) at `line`."""
    def name(f):
        return (f["function"] or "").split("(")[0].split("::")[-1]
    for s in report["sites"]:
        f0 = s["frames"][0] if s["frames"] else None
        if f0 and name(f0) == function and f0["line"] == line and s["space"] == space:
            return s
    return None


class ConstructorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.traced = run_traced([fixture("ctor_fixture")])
        cls.report = cls.traced.report

    def test_runs(self):
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr[-2000:])

    def test_constructor_thread_heap_and_mapping_exact(self):
        (heap,) = self.traced.expectations("ctor_heap")
        (mapping,) = self.traced.expectations("ctor_map")
        h = site_at(self.report, heap["function"], heap["line"], "heap")
        self.assertIsNotNone(h, [s["frames"][:1] for s in self.report["sites"]])
        self.assertEqual((h["live_bytes"], h["live_blocks"]), (heap["bytes"], 1))
        m = site_at(self.report, mapping["function"], mapping["line"], "anon_mmap")
        self.assertIsNotNone(m)
        self.assertEqual((m["live_bytes"], m["live_blocks"]), (mapping["bytes"], 1))

    def test_constructor_thread_listed_with_its_creator(self):
        (heap,) = self.traced.expectations("ctor_heap")
        (mapping,) = self.traced.expectations("ctor_map")
        want = heap["bytes"] + mapping["bytes"]
        threads = [t for t in self.report["threads"] if t["live_bytes"] == want]
        self.assertEqual(len(threads), 1, self.report["threads"])
        t = threads[0]
        self.assertEqual(t["state"], "alive")
        self.assertFalse(t.get("predates_tracing", False))
        self.assertEqual(t["start_routine"], "ctor_thread_main")
        creator = self.report["by_creator"][t["creator"]]
        names = [f["function"] for f in creator["creator_frames"]]
        self.assertIn("ctor_lib_init", names)

    def test_cxx_static_initializer_leak(self):
        (leak,) = self.traced.expectations("cxx_static")
        s = site_at(self.report, leak["function"], leak["line"], "heap")
        self.assertIsNotNone(s, [s["frames"][:1] for s in self.report["sites"]])
        self.assertEqual((s["live_bytes"], s["live_blocks"]), (leak["bytes"], 1))

    def test_main_thread_predates_tracing(self):
        self.assertEqual(self.report["totals"]["threads"]["predating"], 1)
        main = [t for t in self.report["threads"] if t["main"]]
        self.assertEqual(len(main), 1)
        self.assertTrue(main[0].get("predates_tracing", False))


if __name__ == "__main__":
    unittest.main()
