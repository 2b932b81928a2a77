"""The reachability scan end to end (src/scan): the fixture seeds blocks of
every kind at known sites; the driver stops it with ptrace, reads it through
process_vm_readv (and /proc/PID/mem), classifies, and the per-site numbers
must equal what the fixture says and what Valgrind memcheck reports on the
same binary at the same point (VALGRIND_DO_LEAK_CHECK)."""
import os
import shutil
import unittest

from mtharness import fixture
import subprocess
import tempfile

from scanharness import memcheck_by_site, memcheck_summary, run_scan

FIX = fixture("scan_fixture")


def expected_by_site(expectations, field):
    out = {}
    for e in expectations:
        kind = e[field]
        if kind == "-":
            continue
        acc = out.setdefault((e["site"], kind), [0, 0])
        acc[0] += e["bytes"]
        acc[1] += e["blocks"]
    return out


def scanned_by_site(run, prefix="site_"):
    out = {}
    for s in run.doc["sites"]:
        if not s["site"].startswith(prefix):
            continue
        for kind in ("definite", "indirect", "possible", "reachable", "suppressed"):
            if kind in s:
                out[(s["site"], kind)] = [s[kind]["bytes"], s[kind]["blocks"]]
    return out


class ScanFixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scan = run_scan([FIX], ["--site-prefix", "site_"])
        cls.expect = cls.scan.expectations()

    def test_fixture_ran_and_was_scanned(self):
        self.assertEqual(self.scan.returncode, 0, self.scan.stderr[-3000:])
        self.assertTrue(self.scan.doc["scanned"])
        scan = self.scan.doc["scans"][0]
        self.assertEqual(scan["threads_stopped"], 4)  # main + three parked
        self.assertEqual(scan["threads_not_stopped"], 0)
        self.assertEqual(scan["table_dropped"], 0)
        self.assertGreater(len(self.expect), 20)

    def test_every_site_has_the_expected_kind_and_numbers(self):
        want = expected_by_site(self.expect, "leak")
        got = scanned_by_site(self.scan)
        self.assertEqual(got, want)

    def test_holders_name_the_thread(self):
        for e in self.expect:
            site = self.scan.site(e["site"])
            holders = site.get("holders", {})
            if e["holder"] == "thread":
                self.assertEqual(holders, {f"thread:{e['tid']}": e["bytes"]}, e["site"])
            elif e["holder"] == "shared":
                self.assertEqual(holders, {"shared": e["bytes"]}, e["site"])
            else:
                self.assertEqual(holders, {}, e["site"])
        held = {h["tid"]: h for h in self.scan.doc["held_by_thread"]}
        tls = [e for e in self.expect if e["site"] == "site_parked_tls"][0]
        self.assertGreaterEqual(held[tls["tid"]]["reachable"]["bytes"], 110)

    def test_heuristics_are_memchecks(self):
        by_site = {b["site"]: b["heuristic"] for b in self.scan.doc["blocks"] if b["site"].startswith("site_")}
        self.assertEqual(by_site["site_length64"], "length64")
        self.assertEqual(by_site["site_cxx_newarray"], "newarray")
        self.assertEqual(by_site["site_cxx_second_base"], "multipleinheritance")
        self.assertEqual(by_site["site_global_bss"], "none")

    def test_indirect_blocks_name_their_definite_leader(self):
        blocks = {b["addr"]: b for b in self.scan.doc["blocks"]}
        links = [b for b in blocks.values() if b["site"] == "site_chain_link"]
        heads = [b for b in blocks.values() if b["site"] == "site_chain_head"]
        self.assertEqual(len(links), 2)
        for b in links:
            self.assertEqual(b["leader"], heads[0]["addr"])

    def test_gate_line_counts_definite_and_indirect(self):
        gate = self.scan.doc["gate"]
        d = self.scan.doc["totals"]
        self.assertEqual(gate["bytes"], d["definite"]["bytes"] + d["indirect"]["bytes"])
        self.assertIn("MEMTRACE_LEAK_KINDS=definite,indirect", gate["line"])
        self.assertIn(gate["line"], self.scan.stderr)


@unittest.skipUnless(shutil.which("valgrind"), "valgrind not installed")
class ScanAgainstMemcheckTest(unittest.TestCase):
    def test_per_site_numbers_equal_memchecks(self):
        run = run_scan([FIX], ["--site-prefix", "site_"])
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        memcheck, proc = memcheck_by_site([FIX], "site_")
        self.assertTrue(memcheck, proc.stderr[-2000:])
        # What the fixture says memcheck reports is what memcheck reports...
        self.assertEqual(memcheck, expected_by_site(run.expectations(), "memcheck"))
        # ...and the scan agrees with it on every heap site, except inside a
        # lost tracked mapping, which memcheck sees as root memory.
        ours = {k: v for k, v in scanned_by_site(run).items() if not k[0].startswith("site_mapping_")}
        theirs = dict(memcheck)
        for key in [k for k in theirs if k[0] == "site_in_lost_mapping"]:
            del theirs[key]
        for key in [k for k in ours if k[0] == "site_in_lost_mapping"]:
            del ours[key]
        self.assertEqual(ours, theirs)


def traced_by_site(report, prefix="site_"):
    """Per frame-0 function: leak kinds of a live report of the real tracer."""
    out = {}
    frames = report["frames"]
    for s in report["sites"]:
        if not s["frames"] or not s.get("leak_kinds"):
            continue
        fn = frames[s["frames"][0]]["function"] or ""
        if not fn.startswith(prefix):
            continue
        for kind, c in s["leak_kinds"].items():
            if c["blocks"]:
                acc = out.setdefault((fn, kind), [0, 0])
                acc[0] += c["bytes"]
                acc[1] += c["blocks"]
    return out


class TracerScanTest(unittest.TestCase):
    """The same fixture under the real tracer: the watcher stops it at its sync
    point (memtrace_dump_leaks), scans, and the live report's leak kinds per
    site equal memcheck's on the same binary."""

    @classmethod
    def setUpClass(cls):
        from mtharness import LIB, clean_env
        import json
        cls.dir = tempfile.mkdtemp(prefix="memtrace_scan_")
        live = os.path.join(cls.dir, "live.json")
        cls.proc = subprocess.run([FIX], env=clean_env({"LD_PRELOAD": LIB, "SCAN_FIXTURE_REPORT": live,
                                                        "MEMTRACE_OUTPUT": os.path.join(cls.dir, "exit.json")}),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        with open(live) as f:
            cls.report = json.load(f)
        cls.expect = [json.loads(l.split(b" ", 1)[1]) for l in cls.proc.stdout.splitlines()
                      if l.startswith(b"MEMTRACE_EXPECT ")]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_world_was_stopped(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr[-2000:])
        scan = self.report["leak_scan"]
        self.assertEqual(scan["threads_stopped"], 4)  # main + three parked
        self.assertEqual(scan["threads_not_stopped"], 0)
        self.assertGreater(scan["paused_ms"], 0)

    def test_per_site_numbers_equal_memchecks(self):
        # The runtime-root case needs a mapping the tracer knows as a
        # runtime's (a Go heap arena): the fixture marks it only for the
        # stand-alone driver.
        skip = ("site_mapping_runtime", "site_in_runtime_root")
        want = {k: v for k, v in expected_by_site(self.expect, "leak").items() if k[0] not in skip}
        got = {k: v for k, v in traced_by_site(self.report).items() if k[0] not in skip}
        self.assertEqual(got, want)
        memcheck, proc = memcheck_by_site([FIX], "site_")
        self.assertTrue(memcheck, proc.stderr[-2000:])
        heap = {k: v for k, v in got.items() if not k[0].startswith(("site_mapping_", "site_in_lost_mapping"))}
        theirs = {k: v for k, v in memcheck.items() if k[0] not in skip + ("site_in_lost_mapping",)}
        self.assertEqual(heap, theirs)

    def test_parked_threads_hold_their_memory(self):
        holders = {t["tid"]: t.get("holds_reachable") for t in self.report["threads"]}
        by_holder = {e["site"]: e for e in self.expect if e["holder"] == "thread"}
        for site in ("site_parked_tls", "site_parked_stack"):
            tid = by_holder[site]["tid"]
            self.assertIsNotNone(holders.get(tid), (site, tid, holders))
            self.assertGreaterEqual(holders[tid]["bytes"], by_holder[site]["bytes"])


class ScanOptionsTest(unittest.TestCase):
    def test_proc_mem_reader_gives_the_same_answer(self):
        a = run_scan([FIX], ["--site-prefix", "site_"])
        b = run_scan([FIX], ["--site-prefix", "site_", "--method", "mem"])
        self.assertEqual(scanned_by_site(a), scanned_by_site(b))

    def test_without_heuristics_interior_pointers_are_possible(self):
        run = run_scan([FIX], ["--site-prefix", "site_", "--no-heuristics"])
        got = scanned_by_site(run)
        self.assertEqual(got[("site_length64", "possible")], [109, 1])
        self.assertIn(("site_cxx_second_base", "possible"), got)

    def test_lsan_mode_does_not_scan_untracked_memory(self):
        run = run_scan([FIX], ["--site-prefix", "site_", "--lsan"])
        got = scanned_by_site(run)
        self.assertEqual(got[("site_in_untracked", "definite")], [118, 1])
        self.assertEqual(got[("site_global_bss", "reachable")], [101, 1])
        self.assertEqual(got[("site_main_tls", "reachable")], [116, 1])  # its TLS is still a root

    def test_gate_fires_and_a_suppressions_file_clears_it(self):
        run = run_scan([FIX], ["--site-prefix", "site_", "--exit-code", "23"])
        self.assertEqual(run.returncode, 23)
        self.assertIn("exit status 23", run.stderr)
        supp = os.path.join(os.path.dirname(FIX), "scan_fixture.supp")
        with open(supp, "w") as f:
            f.write("# the fixture leaks on purpose\n"
                    "leak:^site_definite$\n"
                    "leak:site_chain_*\n"
                    "leak:scan_fixture.c\n")
        run = run_scan([FIX], ["--site-prefix", "site_", "--exit-code", "23", "--suppressions", supp])
        self.assertEqual(run.returncode, 0, run.doc.get("gate"))
        self.assertIn("exit status kept", run.stderr)
        used = {s["pattern"]: s for s in run.doc["suppressions_used"]}
        self.assertEqual(used["^site_definite$"]["bytes"], 3 * 103)
        self.assertEqual(used["site_chain_*"]["bytes"], 104 + 2 * 105)
        self.assertGreater(used["scan_fixture.c"]["bytes"], 0)  # the rest, by source file
        self.assertEqual(run.doc["totals"]["suppressed"]["bytes"], sum(s["bytes"] for s in used.values()))

    def test_kinds_and_threshold(self):
        run = run_scan([FIX], ["--site-prefix", "site_", "--exit-code", "23", "--kinds", "possible",
                               "--threshold", "1000000"])
        self.assertEqual(run.returncode, 0)
        self.assertIn("MEMTRACE_LEAK_KINDS=possible", run.stderr)


PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
GIT = shutil.which("git")
SQLITE = shutil.which("sqlite3")


def make_repo(path):
    """A small git repository with four commits."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    subprocess.run([GIT, "init", "-q", path], check=True, env=env)
    for i in range(1, 5):
        with open(os.path.join(path, "f.txt"), "a") as f:
            f.write(f"line {i}\n")
        with open(os.path.join(path, f"g{i}.txt"), "w") as f:
            f.write(f"x{i}\n")
        subprocess.run([GIT, "-C", path, "add", "."], check=True, env=env)
        subprocess.run([GIT, "-C", path, "commit", "-qm", f"c{i}"], check=True, env=env)


class ScanAtExitTest(unittest.TestCase):
    """The scan at exit (after the program's destructors, as the final report
    runs): leak-free programs keep their own exit status under the gate."""

    def gate(self, argv, cwd=None):
        run = run_scan(argv, ["--at-exit", "--exit-code", "23", "--no-blocks"], cwd=cwd)
        self.assertTrue(run.doc.get("scanned"), run.stderr[-2000:])
        return run

    def assertClean(self, run, status):
        totals = run.doc["totals"]
        self.assertEqual((totals["definite"]["bytes"], totals["indirect"]["bytes"]), (0, 0),
                         [s for s in run.doc["sites"] if "definite" in s or "indirect" in s])
        self.assertEqual(run.returncode, status, run.stderr[-2000:])
        self.assertIn("exit status kept", run.stderr)

    def test_stdio_iostream_thread_and_dlopen(self):
        self.assertClean(self.gate([fixture("scan_clean"), "7"]), 7)

    def test_python(self):
        self.assertClean(self.gate([PY, "-c", "pass"]), 0)
        script = "import json, threading, sys; t = threading.Thread(target=lambda: json.dumps(list(range(1000)))); " \
                 "t.start(); t.join(); sys.exit(5)"
        self.assertClean(self.gate([PY, "-c", script]), 5)

    @unittest.skipUnless(SQLITE, "sqlite3 not installed")
    def test_sqlite3(self):
        sql = "create table t(a, b); insert into t values (1, 2); create index i on t(a); select * from t;"
        self.assertClean(self.gate([SQLITE, ":memory:", sql]), 0)

    @unittest.skipUnless(GIT, "git not installed")
    def test_git_log(self):
        with tempfile.TemporaryDirectory(prefix="scan_git_") as repo:
            make_repo(repo)
            self.assertClean(self.gate([GIT, "-C", repo, "log", "--stat"]), 0)

    @unittest.skipUnless(GIT and shutil.which("valgrind"), "git or valgrind not installed")
    def test_git_diff_definite_bytes_equal_memchecks(self):
        # git 2.39's diff --stat loses one 2 KiB buffer (and a 7-byte string
        # it points to) at exit: a real leak, found by both.
        with tempfile.TemporaryDirectory(prefix="scan_git_") as repo:
            make_repo(repo)
            argv = [GIT, "-C", repo, "diff", "HEAD~3", "--stat"]
            memcheck = memcheck_summary(argv)
            run = run_scan(argv, ["--at-exit", "--no-blocks"])
        totals = run.doc["totals"]
        self.assertEqual([totals["definite"]["bytes"], totals["definite"]["blocks"]], memcheck["definite"])
        self.assertEqual([totals["indirect"]["bytes"], totals["indirect"]["blocks"]], memcheck["indirect"])


XGB = fixture("scan_xgboost")


@unittest.skipUnless(os.path.exists(XGB) and shutil.which("valgrind"),
                     "scan_xgboost not built (libxgboost-dev missing) or valgrind missing")
class ScanXgboostTest(unittest.TestCase):
    """A program that trains a model through XGBoost's C API and forgets
    XGBoosterFree: the booster is the definite leak, everything it owns is
    lost with it, and the numbers are memcheck's. OMP_WAIT_POLICY=passive
    parks libgomp's worker in the kernel: a worker still spinning keeps
    stale values in its red zone, which this scan (like memcheck) reads for a
    thread stopped in its own code, and which varies with scheduling."""

    ENV = {"OMP_WAIT_POLICY": "passive"}

    def test_forgotten_booster_is_the_definite_leak(self):
        run = run_scan([XGB], ["--at-exit", "--exit-code", "23"], env=self.ENV)
        self.assertEqual(run.returncode, 23, run.stderr[-2000:])
        memcheck = memcheck_summary([XGB], env=self.ENV)
        t = run.doc["totals"]
        self.assertEqual([t["definite"]["bytes"], t["definite"]["blocks"]], memcheck["definite"])
        definite = [b for b in run.doc["blocks"] if b["kind"] == "definite"]
        sites = {s["site"]: s for s in run.doc["sites"]}
        frames = [f["function"] for f in sites[definite[0]["site"]]["frames"]]
        self.assertTrue(any("Learner::Create" in f for f in frames), frames)
        self.assertTrue(any(f == "XGBoosterCreate" for f in frames), frames)
        # Whatever memcheck calls lost is lost here too, or possible where a
        # stale word (a recycled malloc chunk, never written: undefined to
        # memcheck) points into it; never reachable.
        lost = t["definite"]["bytes"] + t["indirect"]["bytes"]
        self.assertLessEqual(lost, memcheck["definite"][0] + memcheck["indirect"][0])
        self.assertGreaterEqual(lost + t["possible"]["bytes"], memcheck["definite"][0] + memcheck["indirect"][0])

    def test_freeing_the_booster_leaves_nothing_lost(self):
        run = run_scan([XGB, "free"], ["--at-exit", "--exit-code", "23", "--no-blocks"], env=self.ENV)
        self.assertEqual(run.returncode, 0, run.doc.get("gate"))
        self.assertEqual(run.doc["totals"]["definite"]["bytes"], 0)


class TracerRealProgramsTest(unittest.TestCase):
    """The tracer's own scan at exit (the watcher, after the program's
    destructors) on real programs: the gate fires on their real leaks and the
    definite bytes are memcheck's "definitely lost" on the same binary."""

    def traced(self, argv, env=None, cwd=None):
        from mtharness import run_traced
        extra = {"MEMTRACE_LEAK_EXIT_CODE": "23"}
        extra.update(env or {})
        run = run_traced(argv, env=extra, cwd=cwd, timeout=600)
        self.assertEqual(run.returncode, 23, run.stderr[-2000:])
        return run.report["totals"]["leak_kinds"]

    @unittest.skipUnless(GIT and shutil.which("valgrind"), "git or valgrind not installed")
    def test_git_diff(self):
        with tempfile.TemporaryDirectory(prefix="scan_git_") as repo:
            make_repo(repo)
            argv = [GIT, "-C", repo, "diff", "HEAD~3", "--stat"]
            memcheck = memcheck_summary(argv)
            kinds = self.traced(argv)
        for kind in ("definite", "indirect", "possible"):
            self.assertEqual([kinds[kind]["bytes"], kinds[kind]["blocks"]], memcheck[kind], kind)

    @unittest.skipUnless(os.path.exists(XGB) and shutil.which("valgrind"),
                         "scan_xgboost not built (libxgboost-dev missing) or valgrind missing")
    def test_xgboost_forgotten_booster(self):
        """The tracer's scan runs at exit while a parked libgomp worker and
        libc's data still hold words that may point into the booster (with
        address randomization, most runs: a worker's stack word and one in
        libc's data point inside it); memcheck looks after every thread is
        gone. So the lost set is definite and indirect, as memcheck's, or
        possible: never reachable, and never more definite than memcheck's
        (glibc's atexit list blocks, linked from the runtime's first one,
        were 1,040 false definite bytes)."""
        from mtharness import run_traced
        env = ScanXgboostTest.ENV
        memcheck = memcheck_summary([XGB], env=env)
        lost = memcheck["definite"][0] + memcheck["indirect"][0]
        for _ in range(3):
            kinds = run_traced([XGB], env=dict(env, MEMTRACE_LEAK_EXIT_CODE="23"), timeout=600).report["totals"]["leak_kinds"]
            self.assertLessEqual(kinds["definite"]["bytes"], memcheck["definite"][0], kinds)
            self.assertLessEqual(kinds["definite"]["bytes"] + kinds["indirect"]["bytes"], lost, kinds)
            self.assertGreaterEqual(kinds["definite"]["bytes"] + kinds["indirect"]["bytes"] + kinds["possible"]["bytes"],
                                    lost, kinds)


if __name__ == "__main__":
    unittest.main()
