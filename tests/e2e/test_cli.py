"""The memtrace command: run (status, signals, gate), dump (untraced, traced,
by control file and by signal), report, --help; and a real cgo program (Go
ends with exit_group) whose last interval snapshot is on disk."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from mtharness import build_go, CLI, LIB, Service, clean_env, fixture, load

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
HERE = os.path.dirname(os.path.abspath(__file__))


def cli(*args, **kw):
    env = clean_env({"MEMTRACE_LIB": LIB})
    return subprocess.run([CLI] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


class HelpTest(unittest.TestCase):
    def test_every_subcommand_has_help(self):
        for sub in ("run", "dump", "report", "diff"):
            r = cli(sub, "--help")
            self.assertEqual(r.returncode, 0, sub)
            self.assertIn(b"usage: memtrace " + sub.encode(), r.stdout)
        self.assertEqual(cli("--help").returncode, 0)
        self.assertEqual(cli("bogus").returncode, 2)


class RunTest(unittest.TestCase):
    def test_exit_status_and_report(self):
        d = tempfile.mkdtemp()
        try:
            r = cli("run", "--output", os.path.join(d, "r.json"), "--", PY, "-c", "import sys; print('hi'); sys.exit(7)")
            self.assertEqual(r.returncode, 7)
            self.assertEqual(r.stdout, b"hi\n")
            self.assertEqual(load(os.path.join(d, "r.json"))["reason"], "exit")
        finally:
            shutil.rmtree(d)

    def test_signal_propagates(self):
        r = cli("run", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
        self.assertEqual(r.returncode, -signal.SIGTERM)

    def test_gate(self):
        d = tempfile.mkdtemp()
        try:
            out = os.path.join(d, "r.json")
            # leaky keeps its blocks in globals (reachable): count every kind.
            r = cli("run", "--output", out, "--gate", "0", "--leak-kinds", "all", "--", fixture("leaky"))
            self.assertEqual(r.returncode, 23)
            kinds = load(out)["totals"]["leak_kinds"]
            total = sum(kinds[k]["bytes"] for k in ("definite", "indirect", "possible", "reachable"))
            r = cli("run", "--output", out, "--gate", str(total), "--gate-code", "9", "--leak-kinds", "all", "--",
                    fixture("leaky"))
            self.assertEqual(r.returncode, 0)
            r = cli("run", "--output", out, "--gate", str(total - 1), "--gate-code", "9", "--leak-kinds", "all", "--",
                    fixture("leaky"))
            self.assertEqual(r.returncode, 9)
            # By default the gate counts what is lost, not what a global holds.
            r = cli("run", "--output", out, "--gate", "0", "--", fixture("leaky"))
            self.assertEqual(r.returncode, 0 if kinds["definite"]["bytes"] + kinds["indirect"]["bytes"] == 0 else 23)
        finally:
            shutil.rmtree(d)


class DumpTest(unittest.TestCase):
    def test_untraced_process(self):
        p = subprocess.Popen(["sleep", "30"], env=clean_env())
        try:
            r = cli("dump", str(p.pid))
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"is not traced", r.stderr)
        finally:
            p.kill()
            p.wait()
        r = cli("dump", "999999999")
        self.assertEqual(r.returncode, 1)

    def test_traced_process_by_control_file_and_signal(self):
        svc = Service()
        try:
            svc.command("reload")
            r = cli("dump", str(svc.proc.pid))
            self.assertEqual(r.returncode, 0, r.stderr)
            path = r.stdout.decode().strip().removeprefix("report written to ")
            self.assertEqual(load(path)["reason"], "signal")
            custom = os.path.join(svc.outdir, "custom.json")
            r = cli("dump", str(svc.proc.pid), "--output", custom)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode().strip(), f"report written to {custom}")
            r = cli("dump", str(svc.proc.pid), "--signal")
            self.assertEqual(r.returncode, 0, r.stderr)
            # `memtrace report` renders a saved JSON report as text.
            r = cli("report", custom, "--top", "1")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"== Top 1 of", r.stdout)
            self.assertIn(b"at grow_cache (", r.stdout)
            code, _, _ = svc.quit()
            self.assertEqual(code, 0)
        finally:
            svc.cleanup()


    def test_dump_with_leaks(self):
        svc = Service()
        try:
            svc.command("reload")
            plain = os.path.join(svc.outdir, "plain.json")
            r = cli("dump", str(svc.proc.pid), "--output", plain)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIsNone(load(plain)["totals"].get("leak_kinds"))  # live reports stay cheap by default
            scanned = os.path.join(svc.outdir, "leaks.json")
            r = cli("dump", str(svc.proc.pid), "--leaks", "--output", scanned)
            self.assertEqual(r.returncode, 0, r.stderr)
            report = load(scanned)
            self.assertGreater(report["leak_scan"]["threads_stopped"], 0)
            # grow_cache's 4 blocks of 16 KiB hang off a global: reachable.
            cache = [x for x in report["sites"] if x["frames"] and x["frames"][0]["function"] == "grow_cache"]
            self.assertEqual(sum(x["leak_kinds"]["reachable"]["bytes"] for x in cache), 4 * 16384)
            self.assertEqual(sum(x["leak_kinds"]["definite"]["bytes"] for x in cache), 0)
            r = cli("dump", str(svc.proc.pid), "--leaks", "--signal")
            self.assertEqual(r.returncode, 2)
            self.assertIn(b"--leaks goes through the control file", r.stderr)
            code, _, _ = svc.quit()
            self.assertEqual(code, 0)
        finally:
            svc.cleanup()


class GoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="memtrace_go_")
        cls.binary = build_go("go_cgo", cls.work, "cgoleak")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_exit_group_gets_a_final_report(self):
        out = os.path.join(self.work, "go.%n.json")
        r = cli("run", "--interval", "100ms", "--output", out, "--", self.binary, "800")
        self.assertEqual(r.returncode, 0, r.stderr)
        leaked = int(r.stdout.decode().split()[3])
        files = sorted((f for f in os.listdir(self.work) if f.startswith("go.")), key=lambda f: int(f.split(".")[1]))
        self.assertTrue(files)
        last = load(os.path.join(self.work, files[-1]))
        # Go leaves through exit_group: the watcher writes the final report.
        self.assertEqual(last["reason"], "exit")
        self.assertEqual(last["end"]["how"], "exit_group")
        self.assertEqual(last["end"]["status"], 0)
        sites = [s for s in last["sites"] if s["frames"] and s["frames"][0]["function"] == "cgo_leak"]
        self.assertEqual(sum(s["live_bytes"] for s in sites), leaked)
        self.assertEqual(sum(s["live_blocks"] for s in sites), 10)
        for s in sites:  # the Go caller under the cgo call (go_runtime.h)
            self.assertIn("main.main", [f["function"] for f in s["frames"]])

    def test_signal_dump_after_go_takes_the_signal_over(self):
        env = clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(self.work, "sig.%n.json")})
        p = subprocess.Popen([self.binary, "3000"], env=env, stdout=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            pid = int(line.split()[1])
            time.sleep(0.3)  # the Go runtime has replaced our handler; it forwards what it does not want to us
            r = cli("dump", str(pid), "--signal")
            self.assertEqual(r.returncode, 0, r.stderr)
            path = r.stdout.decode().strip().removeprefix("report written to ")
            doc = load(path)
            self.assertEqual(doc["reason"], "signal")
            self.assertIsNone(p.poll())  # the Go program is still running: its own handling is intact
            p.wait(timeout=10)
            self.assertEqual(p.returncode, 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    unittest.main()
