"""Every process ends with a report (issue 17): exit, _exit, abort, a crash
with and without the program's own handler, kill -9, an OOM kill and Go's
exit_group each leave a final report with the seeded leak exact and how the
process ended; the program's parent sees exactly what it would see untraced
(exit status, signal, core dump flag, wait() results, SIGCHLDs); the gate
fires where the process can still set its status, and through `memtrace run`
wherever it ends."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from mtharness import build_go, CLI, LIB, clean_env, fixture, load, run_plain, run_traced, sites_with_frame0

HERE = os.path.dirname(os.path.abspath(__file__))


def leak_site(report):
    sites = sites_with_frame0(report, "leak_here")
    return sum(s["live_bytes"] for s in sites), sum(s["live_blocks"] for s in sites)


class EndingsTest(unittest.TestCase):
    def check(self, args, how, returncode, env=None, status=None, sig=None):
        run = run_traced([fixture("endings")] + args, env=env)
        self.assertEqual(run.returncode, returncode, run.stderr[-2000:])
        plain = run_plain([fixture("endings")] + args)
        if env is None:
            self.assertEqual(plain.returncode, returncode)  # what the parent sees is unchanged
        report = run.report
        self.assertEqual(report["reason"], "exit")
        self.assertEqual(report["end"]["how"], how, report["end"])
        if status is not None:
            self.assertEqual(report["end"]["status"], status)
        if sig is not None:
            self.assertEqual(report["end"]["signal"], sig)
        self.assertEqual(leak_site(report), (4321, 1))
        return run

    def test_exit(self):
        self.check(["exit", "5"], "exit", 5)

    def test_underscore_exit_keeps_its_status(self):
        self.check(["_exit", "3"], "_exit", 3, status=3)

    def test_underscore_exit_gate(self):
        run = self.check(["_exit", "3"], "_exit", 23, env={"MEMTRACE_LEAK_EXIT_CODE": "23"}, status=3)
        self.assertIn(b"exit status 23", run.stderr)

    def test_abort(self):
        self.check(["abort"], "signal", -signal.SIGABRT, sig=signal.SIGABRT)

    def test_segv_without_handler(self):
        self.check(["segv"], "signal", -signal.SIGSEGV, sig=signal.SIGSEGV)

    def test_segv_with_the_programs_handler(self):
        run = self.check(["segv-handled"], "_exit", 7, status=7)
        self.assertIn(b"handled SIGSEGV", run.stdout)

    def test_core_dump_flag_unchanged(self):
        # Whatever the machine's core_pattern, the traced run dumps core
        # exactly when the untraced one does.
        def core_flag(preload):
            d = tempfile.mkdtemp()
            try:
                env = clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(d, "r.json")} if preload else {})
                p = subprocess.Popen(["sh", "-c", f"ulimit -c unlimited; exec {fixture('endings')} abort"], cwd=d,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _, st = os.waitpid(p.pid, 0)
                p.returncode = 0
                return os.WIFSIGNALED(st), os.WTERMSIG(st), os.WCOREDUMP(st)
            finally:
                shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(core_flag(True), core_flag(False))


class KillTest(unittest.TestCase):
    def start_leaker(self, outdir, preexec=None, extra_env=None):
        env = {"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(outdir, "r.json")}
        env.update(extra_env or {})
        return subprocess.Popen([fixture("endings"), "leak-forever", "65536"], env=clean_env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec)

    def wait_report(self, path, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(path):
                doc = load(path)
                if doc.get("end") is not None:
                    return doc
            time.sleep(0.02)
        self.fail("no final report")

    def check_after_kill(self, report, last_total):
        self.assertEqual(report["end"]["how"], "killed")
        self.assertEqual(report["end"]["signal"], signal.SIGKILL)
        self.assertEqual(leak_site(report), (4321, 1))
        steps = [s for s in sites_with_frame0(report, "leak_step")]
        live = sum(s["live_bytes"] for s in steps)
        # Every step the program announced reached the tracer; at most the one
        # it was making when it died is missing or extra.
        self.assertGreaterEqual(live, last_total)
        self.assertLessEqual(live, last_total + 65536)
        self.assertLessEqual(report["end"]["events_lost"], 1)

    def test_kill_9(self):
        d = tempfile.mkdtemp()
        try:
            p = self.start_leaker(d)
            total, count = 0, 0
            while count < 2000:
                line = p.stdout.readline()
                if line.startswith(b"total "):
                    total = int(line.split()[1])
                    count += 1
            p.kill()
            p.wait()
            rest = [l for l in p.stdout.read().splitlines() if l.startswith(b"total ")]
            if rest:
                total = int(rest[-1].split()[1])
            self.assertEqual(p.returncode, -signal.SIGKILL)
            self.check_after_kill(self.wait_report(os.path.join(d, "r.json")), total)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_oom_kill(self):
        """Under a memory cgroup limit the kernel's OOM killer ends the program
        with SIGKILL; where no memory cgroup can be made, an address-space
        limit makes malloc fail and the fixture kills itself the same way."""
        d = tempfile.mkdtemp()
        cg = f"/sys/fs/cgroup/memory/memtrace_e2e_{os.getpid()}"
        try:
            try:
                os.mkdir(cg)
                with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
                    f.write(str(96 << 20))
                with open(os.path.join(cg, "memory.memsw.limit_in_bytes"), "a"):
                    pass
                preexec = lambda: open(os.path.join(cg, "cgroup.procs"), "w").write(str(os.getpid()))
                extra = {}
            except OSError:
                cg = None
                preexec = None
                extra = {}
            if cg is None:
                import resource
                def preexec():
                    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
            p = self.start_leaker(d, preexec=preexec, extra_env=extra)
            out, _ = p.communicate(timeout=120)
            totals = [int(line.split()[1]) for line in out.splitlines() if line.startswith(b"total ")]
            self.assertEqual(p.returncode, -signal.SIGKILL)
            self.check_after_kill(self.wait_report(os.path.join(d, "r.json")), totals[-1] if totals else 0)
        finally:
            if cg is not None and os.path.isdir(cg):
                for _ in range(100):
                    try:
                        os.rmdir(cg)
                        break
                    except OSError:
                        time.sleep(0.05)
            shutil.rmtree(d, ignore_errors=True)


class ParentTest(unittest.TestCase):
    """A parent that reaps with wait() and counts SIGCHLD sees only the
    program, traced or not. One documented exception: after an abnormal death
    (a signal, exit_group) the watcher outlives the program by the time it
    takes to write the final report, and like any orphan it is then adopted by
    the nearest child subreaper, which reaps it (status 0)."""

    @staticmethod
    def seen(stdout):
        out = []
        for line in stdout.decode().splitlines():
            words = line.split()
            if words and words[0] == "reaped":
                out.append(" ".join([words[0], words[1]] + words[3:]))  # without the pid
            elif words and words[0] == "sigchld":
                out.append(line)
        return out

    def test_exit_abort_and_underscore_exit_seen_as_untraced(self):
        d = tempfile.mkdtemp()
        try:
            for args in (["exit", "4"], ["_exit", "6"], ["abort"]):
                for subreaper in ([], ["--subreaper"]):
                    cmd = [fixture("endings")] + args
                    plain = subprocess.run([fixture("reaper")] + subreaper + cmd, env=clean_env(),
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
                    # Only the reaper's child is traced (env sets the preload for it).
                    traced = subprocess.run(
                        [fixture("reaper")] + subreaper + ["env", f"LD_PRELOAD={LIB}"] + cmd,
                        env=clean_env({"MEMTRACE_OUTPUT": os.path.join(d, "r.%p.json")}),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
                    want, got = self.seen(plain.stdout), self.seen(traced.stdout)
                    if subreaper and args == ["abort"]:
                        # Only the reaped processes: two SIGCHLDs may arrive as one.
                        want = [want[0], "reaped other exit 0"]
                        got = [l for l in got if l.startswith("reaped")]
                    self.assertEqual(got, want, (args, subreaper, traced.stderr[-500:]))
                    self.assertEqual(len([l for l in self.seen(plain.stdout) if l.startswith("reaped")]), 1)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class GateTest(unittest.TestCase):
    def test_gate_is_the_started_process_only(self):
        r = run_traced(["sh", "-c", f"{fixture('endings')} exit 0; echo child=$?"],
                       env={"MEMTRACE_LEAK_EXIT_CODE": "23"})
        self.assertIn(b"child=0", r.stdout)  # the child leaked, but the gate is sh's

    def test_memtrace_run_gate_after_a_kill(self):
        d = tempfile.mkdtemp()
        try:
            r = subprocess.run([CLI, "run", "--gate", "0", "--output", os.path.join(d, "r.json"), "--", "sh", "-c",
                                f"exec {fixture('endings')} abort"], env=clean_env({"MEMTRACE_LIB": LIB}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 23, r.stderr)
            self.assertEqual(load(os.path.join(d, "r.json"))["end"]["signal"], signal.SIGABRT)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class GoExitGroupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="memtrace_go_end_")
        cls.binary = build_go("go_cgo", cls.work, "cgoleak")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_report_and_gate(self):
        run = run_traced([self.binary, "200"])
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        leaked = int(run.stdout.decode().split()[3])
        report = run.report
        self.assertEqual(report["end"]["how"], "exit_group")
        self.assertEqual(report["end"]["status"], 0)
        sites = sites_with_frame0(report, "cgo_leak")
        self.assertEqual(sum(s["live_bytes"] for s in sites), leaked)
        # memtrace run applies the gate, which the Go process itself could not.
        out = os.path.join(self.work, "r.%p.json")
        r = subprocess.run([CLI, "run", "--gate", "0", "--output", out, "--", self.binary, "200"],
                           env=clean_env({"MEMTRACE_LIB": LIB}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        self.assertEqual(r.returncode, 23, r.stderr)


if __name__ == "__main__":
    unittest.main()
