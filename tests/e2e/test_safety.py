"""Safe to leave in a real service (issue 13): no hang, abort or corruption,
the program's signals and descriptors are its own, the gate applies where it
was asked for, and per-thread state stays bounded. Each test reproduces a way
the tracer used to fail, under a timeout."""
import os
import signal
import subprocess
import tempfile
import shutil
import time
import unittest

from mtharness import LIB, clean_env, fixture, load, run_plain, run_traced


def watcher_of(pid, timeout=10):
    """The pid of process `pid`'s watcher (a child named memtrace-watch).
    The watcher names itself once it runs: on a loaded machine the program
    can be well ahead of that, so look until `timeout`."""
    deadline = time.time() + timeout
    while True:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    for child in f.read().split():
                        with open(f"/proc/{child}/comm") as c:
                            if c.read().strip() == "memtrace-watch":
                                return int(child)
            except OSError:
                pass
        if time.time() > deadline:
            return None
        time.sleep(0.02)


class ForkTest(unittest.TestCase):
    def test_two_thousand_forks_that_exit_at_once(self):
        run = run_traced([fixture("safety"), "forks", "2000"], timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-1000:])
        self.assertIn(b"forked 2000", run.stdout)

    def test_forks_with_interval_reports(self):
        run = run_traced([fixture("safety"), "forks", "300"], env={"MEMTRACE_INTERVAL": "10ms"}, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-1000:])

    def test_children_that_allocate_get_their_reports(self):
        run = run_traced([fixture("safety"), "forks-alloc", "50"], timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-1000:])
        self.assertEqual(len(run.reports), 51)  # each child's own, and the parent's

    def test_forking_while_threads_allocate(self):
        for _ in range(3):
            run = run_traced([fixture("safety"), "forks-threads", "60", "4"], timeout=120)
            self.assertEqual(run.returncode, 0, run.stderr[-1000:])
            self.assertIn(b"forked 60", run.stdout)


class DescriptorTest(unittest.TestCase):
    def test_closefrom_and_reused_descriptors(self):
        run = run_traced([fixture("safety"), "closefrom"], timeout=60)
        self.assertEqual(run.returncode, 0, (run.stdout, run.stderr[-1000:]))
        self.assertIn(b"intact", run.stdout)

    def test_no_descriptor_of_ours_in_the_program(self):
        plain = run_plain([fixture("safety"), "closefrom"])
        traced = run_traced([fixture("safety"), "closefrom"])
        self.assertEqual(traced.stdout.split(b"\n")[0], plain.stdout.split(b"\n")[0])  # "fds N": the same N


class WatcherObjectTest(unittest.TestCase):
    """The preload stays small (libc and the C++ runtime); the watcher's code
    is libmemtrace_watcher.so next to it. Without it, or with one that cannot
    load, the program runs as if untraced and stderr says why in one line."""

    def run_with(self, watcher_bytes):
        d = tempfile.mkdtemp(prefix="mtwatcher_")
        try:
            lib = os.path.join(d, "libmemtrace.so")
            shutil.copy(LIB, lib)
            if watcher_bytes is not None:
                with open(os.path.join(d, "libmemtrace_watcher.so"), "wb") as f:
                    f.write(watcher_bytes)
            env = clean_env({"LD_PRELOAD": lib, "MEMTRACE_OUTPUT": os.path.join(d, "r.json")})
            argv = [fixture("endings"), "exit", "3"]
            run = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            return run, os.path.exists(os.path.join(d, "r.json"))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_missing(self):
        plain = run_plain([fixture("endings"), "exit", "3"])
        run, wrote = self.run_with(None)
        self.assertEqual((run.returncode, run.stdout), (plain.returncode, plain.stdout))
        self.assertFalse(wrote)
        lines = run.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("libmemtrace_watcher.so is missing", lines[0])

    def test_not_loadable(self):
        plain = run_plain([fixture("endings"), "exit", "3"])
        run, wrote = self.run_with(b"not an ELF object")
        self.assertEqual((run.returncode, run.stdout), (plain.returncode, plain.stdout))
        self.assertFalse(wrote)
        lines = run.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("cannot load", lines[0])


class MemoryPressureTest(unittest.TestCase):
    def test_malloc_returns_null_and_the_program_recovers(self):
        import resource

        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
        d = tempfile.mkdtemp()
        try:
            p = subprocess.run([fixture("safety"), "pressure"], preexec_fn=limit, timeout=120,
                               env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(d, "r.json")}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(p.returncode, 0, p.stderr[-1000:])
            self.assertIn(b"recovered", p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class CancelTest(unittest.TestCase):
    def test_cancelling_threads_that_wait_for_ring_space(self):
        d = tempfile.mkdtemp()
        try:
            p = subprocess.Popen([fixture("safety"), "cancel", "6"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE,
                                 env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(d, "r.json")}))
            try:
                self.assertTrue(p.stdout.readline().startswith(b"running"))
                w = watcher_of(p.pid)
                self.assertIsNotNone(w)
                os.kill(w, signal.SIGSTOP)  # nobody drains: the rings fill, the threads wait in the hooks
                time.sleep(0.5)
                p.stdin.write(b"x")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), b"cancelled\n")
                time.sleep(0.3)
                os.kill(w, signal.SIGCONT)
                p.stdin.write(b"x")
                p.stdin.flush()
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 0, err[-1000:])  # not "terminate called without an active exception"
                self.assertIn(b"joined 6", out)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        finally:
            shutil.rmtree(d, ignore_errors=True)


class SignalTest(unittest.TestCase):
    def test_sa_restart_is_not_forced(self):
        def run(preload):
            env = {"LD_PRELOAD": LIB} if preload else {}
            p = subprocess.Popen([fixture("safety"), "sigrestart"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=clean_env(env))
            line = p.stdout.readline()
            self.assertTrue(line.startswith(b"ready"), line)
            time.sleep(0.2)
            os.kill(p.pid, signal.SIGUSR2)
            out, _ = p.communicate(timeout=30)
            return out
        self.assertEqual(run(True), run(False))
        self.assertIn(b"EINTR", run(True))

    def test_sig_ign_survives_exec(self):
        run = run_traced([fixture("safety"), "sigign-exec"], timeout=30)
        self.assertEqual(run.returncode, run_plain([fixture("safety"), "sigign-exec"]).returncode)
        self.assertIn(b"alive", run.stdout)

    def test_job_control_and_fatal_signals_are_refused(self):
        for bad in ("TSTP", "20", "CONT", "SEGV", "KILL"):
            run = run_traced(["/bin/true"], env={"MEMTRACE_SIGNAL": bad})
            self.assertEqual(run.returncode, 0)
            self.assertIn(f"invalid MEMTRACE_SIGNAL='{bad}'".encode(), run.stderr)


class WaitTest(unittest.TestCase):
    def test_waiting_for_clone_children_too(self):
        plain = run_plain([fixture("safety"), "wait-all"])
        run = run_traced([fixture("safety"), "wait-all"], timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr[-1000:])
        self.assertEqual(run.stdout, plain.stdout)
        self.assertIn(b"waitpid __WALL: 2 children, then ECHILD", run.stdout)
        self.assertIn(b"waitid __WALL: 1 child, then ECHILD", run.stdout)
        self.assertEqual(run.report["end"]["how"], "exit")

    @unittest.skipUnless(shutil.which("strace"), "strace is not installed")
    def test_strace_itself_under_the_preload(self):
        # `LD_PRELOAD=libmemtrace.so strace -f prog`: strace reaps with __WALL.
        env = clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": "/dev/null"})
        run = subprocess.run(["strace", "-f", "-o", "/dev/null", fixture("safety"), "wait-all"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr[-1000:])
        self.assertIn(b"then ECHILD", run.stdout)


class DebuggerTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("gdb"), "gdb is not installed")
    def test_program_started_by_gdb(self):
        # gdb's breakpoints (its dynamic-linker probes at least) are in the
        # watcher's copy of the code too; gdb must not take the watcher for a
        # thread of the program, and the report must still be written.
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            run = subprocess.run(["gdb", "-q", "-batch", "-ex", f"set environment LD_PRELOAD {LIB}",
                                  "-ex", f"set environment MEMTRACE_OUTPUT {out}", "-ex", "run",
                                  "-ex", "info inferiors", fixture("leaky")], env=clean_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            text = run.stdout.decode(errors="replace")
            self.assertIn("exited normally", text)
            self.assertNotIn("SIGSEGV", text)
            self.assertNotIn("SIGTRAP", text)
            self.assertNotIn("New Thread", text)  # the watcher is not taken for a thread
            report = load(out)
            traced = run_traced([fixture("leaky")])
            want = sorted((s["frames"][0]["function"], s["live_bytes"]) for s in traced.report["sites"]
                          if s["space"] == "heap")
            got = sorted((s["frames"][0]["function"], s["live_bytes"]) for s in report["sites"] if s["space"] == "heap")
            self.assertEqual(got, want)
            self.assertEqual(report["end"]["how"], "exit")


class GateScopeTest(unittest.TestCase):
    def test_children_are_not_gated(self):
        run = run_traced(["sh", "-c", f"{fixture('endings')} exit 0; echo status=$?"],
                         env={"MEMTRACE_LEAK_EXIT_CODE": "23"})
        self.assertIn(b"status=0", run.stdout)


class BoundedTest(unittest.TestCase):
    def test_thirty_thousand_detached_threads_in_bursts(self):
        run = run_traced([fixture("safety"), "bursts", "30", "1000"], timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr[-1000:])
        report = run.report
        self.assertEqual(report["tracer"]["untraced_threads"], 0)
        self.assertEqual(report["tracer"]["dropped_events"], 0)
        self.assertGreaterEqual(report["totals"]["threads"]["seen"], 30001)
        # Per-thread state is given back: what stays is the warm slots, the
        # stack depot and the slot table, whatever the number of threads.
        self.assertLess(report["tracer"]["memory_bytes"], 64 << 20, report["tracer"])


if __name__ == "__main__":
    unittest.main()
