"""Mappings: exact live bytes per site and space through thousands of random
mmap / partial munmap / mremap / MAP_FIXED operations, checked against the
fixture's own page model, half-way (memtrace_dump) and at exit; on one thread
and on two. Real programs' file mappings appear with their paths."""
import os
import shutil
import tempfile
import unittest

from mtharness import fixture, load, run_plain, run_traced

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def mapping_bytes(report):
    out = {}
    for s in report["sites"]:
        if s["space"] in ("anon_mmap", "file_mmap"):
            key = (s["frames"][0]["function"] if s["frames"] else None, s["space"])
            out[key] = out.get(key, 0) + s["live_bytes"]
    return out


class MmapModelTest(unittest.TestCase):
    def check(self, args):
        d = tempfile.mkdtemp()
        try:
            mid_path = os.path.join(d, "mid.json")
            run = run_traced([fixture("mmap_fixture")] + args, env={"MMAP_FIXTURE_MID_REPORT": mid_path})
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])
            mid = load(mid_path)
        finally:
            shutil.rmtree(d)
        self.assertEqual(mid["reason"], "api")
        final = run.report
        expected = run.expectations("mapping")
        self.assertGreater(sum(e["live_bytes"] for e in expected if e["phase"] == "exit"), 0)
        for phase, report in (("mid", mid), ("exit", final)):
            got = mapping_bytes(report)
            for e in expected:
                if e["phase"] != phase:
                    continue
                self.assertEqual(got.get((e["function"], e["space"]), 0), e["live_bytes"], (phase, e))
            want_total = sum(e["live_bytes"] for e in expected if e["phase"] == phase)
            spaces = report["totals"]["spaces"]
            self.assertEqual(spaces["anon_mmap"]["live_bytes"] + spaces["file_mmap"]["live_bytes"], want_total, phase)
        info = run.expectations("file")[0]
        self.assertGreater(info["failed_calls"], 0)  # failed calls happened and changed nothing
        files = [f for s in final["sites"] if s["space"] == "file_mmap" for f in s["files"]]
        self.assertTrue(files)
        for f in files:
            self.assertTrue(f["path"].startswith(info["path"]), f)
        return final

    def test_single_thread(self):
        self.check([])

    def test_two_threads(self):
        self.check(["threads"])

    def test_disabled(self):
        run = run_traced([fixture("mmap_fixture"), "one", "200"], env={"MEMTRACE_TRACK_MMAP": "0"})
        self.assertEqual(run.returncode, 0)
        spaces = run.report["totals"]["spaces"]
        self.assertEqual(spaces["anon_mmap"]["allocs"] + spaces["file_mmap"]["allocs"], 0)


class RealProgramMappingsTest(unittest.TestCase):
    def test_sqlite_maps_its_database(self):
        d = tempfile.mkdtemp()
        try:
            db = os.path.join(d, "t.db")
            sql = ("pragma mmap_size=268435456; create table t(x); "
                   "with recursive c(i) as (select 1 union all select i+1 from c where i<20000) "
                   "insert into t select randomblob(100) from c; select count(*), sum(length(x)) from t;")
            plain = run_plain(["sqlite3", db], stdin=sql.encode())
            os.unlink(db)
            run = run_traced(["sqlite3", db], stdin=sql.encode(), env={"MEMTRACE_SITES": "all"})
            self.assertEqual(run.stdout, plain.stdout)
            self.assertEqual(run.returncode, plain.returncode)
            spaces = run.report["totals"]["spaces"]
            self.assertGreater(spaces["file_mmap"]["allocs"], 0)
        finally:
            shutil.rmtree(d)

    def test_sqlite_library_mapping_has_path(self):
        """libsqlite3 (through Python's sqlite3 module) maps the open database."""
        d = tempfile.mkdtemp()
        try:
            db = os.path.join(d, "model.db")
            live = os.path.join(d, "live.json")
            script = ("import ctypes, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n"
                      "c.execute('pragma mmap_size=268435456')\nc.execute('create table t(x)')\n"
                      "c.executemany('insert into t values (?)', [(b'x' * 200,) for _ in range(20000)])\nc.commit()\n"
                      "print(c.execute('select count(*), sum(length(x)) from t').fetchone())\n"
                      "ctypes.CDLL(None).memtrace_dump(sys.argv[2].encode())\nc.close()\n")
            run = run_traced([PY, "-c", script, db, live])
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(run.stdout, b"(20000, 4000000)\n")
            report = load(live)
            paths = {f["path"]: f["live_bytes"] for s in report["sites"] if s["space"] == "file_mmap"
                     for f in s["files"]}
            self.assertIn(db, paths)
            self.assertGreater(paths[db], 4000000)
        finally:
            shutil.rmtree(d)

    def test_python_mmap_file_has_path(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "weights.bin")
            with open(path, "wb") as f:
                f.write(b"\1" * (1 << 20))
            live = os.path.join(d, "live.json")
            # The mapping is live while the program asks for a report through
            # the public API (ctypes); Python unmaps it again at shutdown.
            script = ("import ctypes, mmap, os, sys\nf = open(sys.argv[1], 'rb')\n"
                      "m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\nprint(sum(m[::4096]))\n"
                      "import json, email, http.client, decimal\n"
                      "lib = ctypes.CDLL(None)\n"
                      "if hasattr(lib, 'memtrace_dump'): lib.memtrace_dump(sys.argv[2].encode())\n"
                      "os.environ.clear()\n")  # the exit report must not depend on the environment
            plain = run_plain([PY, "-c", script, path, live])
            run = run_traced([PY, "-c", script, path, live])
            self.assertEqual(run.stdout, plain.stdout)
            self.assertEqual(run.returncode, 0, run.stderr)
            live_report = load(live)
            file_sites = [s for s in live_report["sites"] if s["space"] == "file_mmap"]
            paths = {f["path"]: f["live_bytes"] for s in file_sites for f in s["files"]}
            self.assertEqual(paths.get(path), 1 << 20, paths)
            # Python's own arenas are anonymous mappings
            self.assertGreater(live_report["totals"]["spaces"]["anon_mmap"]["allocs"], 0)
            # ... and the exit report sees the mapping gone.
            self.assertEqual(run.report["totals"]["spaces"]["file_mmap"]["live_bytes"], 0)
            self.assertGreaterEqual(run.report["totals"]["spaces"]["file_mmap"]["frees"], 1)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
