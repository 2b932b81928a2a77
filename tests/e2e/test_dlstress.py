"""The stress test of issue 13: libraries whose constructors churn memory on
several threads are loaded and unloaded round after round while one thread
asks for reports (memtrace_dump, memtrace_mark) in a loop, another sends the
report signal, and the process forks children that exit at once, allocate
and _exit, or exec /bin/true (dlstress.c). It must finish every time, with
the untraced run's stdout and exit status, and a final report exact for what
it can know: the seeded leaks, no lost event, no unmatched free.

A hang fails with the round it reached and where each thread waited. CI runs
a small size; the heavier manual run is, from the build directory:

  for i in $(seq 20); do MEMTRACE_OUTPUT=/tmp/dls.%p.json LD_PRELOAD=$PWD/libmemtrace.so \\
    timeout 300 tests/e2e/dlstress 40 6 20000 /tmp/dls-dump.%p.json >/dev/null || echo FAILED; done

(the same with MEMTRACE_INTERVAL=10ms), or DLSTRESS_SIZE="40 6 20000" for this file.
Frames inside libraries unloaded before the report are not checked: they are
[unknown], or the functions of whatever was loaded at their addresses since
(docs/limitations.md).
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from mtharness import LIB, clean_env, fixture, load, run_plain, sites_with_frame0

SIZE = os.environ.get("DLSTRESS_SIZE", "6 3 3000").split()  # rounds, forks per round, operations per thread
TIMEOUT = 180


def thread_states(pid):
    """One line per thread of pid: its name, the kernel function it waits in
    and its state -- what a hang looks like from outside."""
    lines = []
    try:
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(f"{base}/comm") as f:
                    comm = f.read().strip()
                with open(f"{base}/wchan") as f:
                    wchan = f.read().strip()
                with open(f"{base}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                lines.append(f"  {pid}/{tid} {comm}: state {state}, waiting in {wchan or '-'}")
            except OSError:
                pass
    except OSError:
        pass
    return lines


def descendants(pid):
    """pid and every process below it (the watchers included: each is a
    child of the process it watches)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def gdb_backtraces(pid):
    if not shutil.which("gdb"):
        return ""
    try:
        r = subprocess.run(["gdb", "-q", "-batch", "-p", str(pid), "-ex", "thread apply all bt 20"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return r.stdout.decode(errors="replace")[-6000:]
    except (subprocess.TimeoutExpired, OSError):
        return "(gdb did not answer)"


class DlstressTest(unittest.TestCase):
    def run_stress(self, env=None):
        """Runs the fixture under the preload; fails with a description of
        every process and thread if it does not finish in TIMEOUT seconds."""
        d = tempfile.mkdtemp(prefix="memtrace_dlstress_")
        self.addCleanup(shutil.rmtree, d, True)
        extra = {"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(d, "report.%p.json")}
        extra.update(env or {})
        argv = [fixture("dlstress")] + SIZE + [os.path.join(d, "dump.%p.json")]
        proc = subprocess.Popen(argv, env=clean_env(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            procs = descendants(proc.pid)
            states = [line for p in procs for line in thread_states(p)]
            bt = gdb_backtraces(proc.pid)
            for p in procs:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            out, err = proc.communicate()
            rounds = [line for line in out.decode(errors="replace").splitlines() if line.startswith("round")]
            self.fail(f"dlstress {' '.join(SIZE)} hung: no end after {TIMEOUT} s, last line "
                      f"{rounds[-1] if rounds else '(no round finished)'!r}\n" + "\n".join(states) +
                      f"\nstderr: {err.decode(errors='replace')[-2000:]}\n{bt}")
        reports = {}
        for path in glob.glob(os.path.join(d, "report.*.json")):
            doc = load(path)
            reports[doc["pid"]] = doc
        dump = glob.glob(os.path.join(d, "dump.*.json"))
        return proc, out, err, reports, dump

    def check(self, env=None):
        plain = run_plain([fixture("dlstress")] + SIZE, timeout=TIMEOUT)
        self.assertEqual(plain.returncode, 0, plain.stdout)
        proc, out, err, reports, dump = self.run_stress(env)
        text = err.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, (out[-1000:], text[-2000:]))
        self.assertEqual(out, plain.stdout)
        rounds = int(SIZE[0])
        self.assertEqual([line for line in out.decode().splitlines() if line.startswith("round")],
                         [f"round {r} ok" for r in range(rounds)])

        # Every way of asking for a report was used, and answered.
        stats = [line for line in text.splitlines() if line.startswith("dlstress: ") and "dumps" in line]
        self.assertEqual(len(stats), 1, text[-2000:])
        words = stats[0].split()
        dumps, failed = int(words[1]), int(words[3].lstrip("("))
        self.assertGreater(dumps, 0, stats[0])
        self.assertEqual(failed, 0, stats[0])
        self.assertEqual(len(dump), 1)
        with open(dump[0]) as f:
            self.assertEqual(json.load(f)["reason"], "api")

        # The program's final report, exact for what it can know.
        parent = reports.get(proc.pid)
        self.assertIsNotNone(parent, sorted(reports))
        self.assertEqual(parent["end"]["how"], "exit")
        self.assertEqual(parent["tracer"]["dropped_events"], 0)
        self.assertEqual(parent["end"]["events_lost"], 0)
        self.assertEqual(parent["totals"]["unmatched_frees"], 0)
        self.assertEqual(parent["tracer"]["untraced_threads"], 0)
        # 2 + 3 + 4 threads a round, 2 for the resident library, ours.
        self.assertGreaterEqual(parent["totals"]["threads"]["seen"], 9 * rounds + 2 + 1)
        lines = [json.loads(line.split(" ", 1)[1]) for line in out.decode().splitlines()
                 if line.startswith("MEMTRACE_EXPECT ")]
        for truth in lines:
            sites = sites_with_frame0(parent, truth["function"])
            got = (sum(s["live_bytes"] for s in sites), sum(s["live_blocks"] for s in sites))
            self.assertEqual(got, (truth["live_bytes"], truth["live_blocks"]), truth)
        keep = sites_with_frame0(parent, "dlstress_leak_keep")
        self.assertEqual([f["function"] for f in keep[0]["frames"][:2]], ["dlstress_leak_keep", "dlstress_churn_keep"])
        # The churn itself freed everything it made: nothing else is live at
        # the libraries' churn functions that are still known.
        for s in parent["sites"]:
            if s["live_blocks"] and s["frames"] and s["frames"][0]["function"] not in (
                    "dlstress_leak_block", "dlstress_leak_keep"):
                self.assertNotIn("dlstress_churn_keep", [f["function"] for f in s["frames"]], s)

        # Children that allocated wrote their reports: ended by _exit, with
        # their own blocks, complete.
        children = [line.split() for line in text.splitlines() if " allocated " in line]
        self.assertEqual(len(children), sum(1 for r in range(rounds) for f in range(int(SIZE[1]))
                                            if (r * int(SIZE[1]) + f) % 3 == 1))
        for words in children:
            pid, allocated = int(words[2]), int(words[4])
            report = reports.get(pid)
            self.assertIsNotNone(report, f"no report of child {pid}: {sorted(reports)}")
            self.assertEqual(report["end"]["how"], "_exit")
            self.assertEqual(report["tracer"]["dropped_events"], 0)
            self.assertEqual(report["end"]["events_lost"], 0)
            self.assertGreaterEqual(report["totals"]["spaces"]["heap"]["allocs"], 8)
            mine = sites_with_frame0(report, "child")
            self.assertEqual(sum(s["live_bytes"] for s in mine if s["space"] == "heap"), allocated)
            self.assertEqual(sum(s["live_bytes"] for s in mine if s["space"] == "anon_mmap"), 65536)
        for pid, report in reports.items():
            self.assertEqual(report["tracer"]["dropped_events"], 0, pid)
        return parent

    def test_reports_forks_and_library_churn(self):
        self.check()

    def test_with_interval_reports(self):
        self.check({"MEMTRACE_INTERVAL": "10ms"})


if __name__ == "__main__":
    unittest.main()
