"""Reports and controls that cannot be turned against their user
(docs/security.md), tried as other users would:

- another user plants /tmp/memtrace-<uid> with symbolic links before the
  victim runs `memtrace dump` (users made by the test, removed after);
- a setuid copy of a program linked with libmemtrace, run by an unprivileged
  user with hostile MEMTRACE_* settings (secure-execution mode);
- related processes (a forked child, programs a traced shell starts) with
  one MEMTRACE_OUTPUT: no report overwrites or rotates away another's;
- the control-file protocol: a malformed request is ignored, a relative
  --output is the user's, not the watcher's.

The tests that need other users run only as root (they say so otherwise)."""
import glob
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

from mtharness import CLI, LIB, Service, clean_env, fixture, load

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
ROOT = os.geteuid() == 0


class User:
    """A user made for one test (useradd), removed by cleanup()."""

    def __init__(self, tag):
        self.name = f"mt{tag}{os.getpid() % 100000}"
        subprocess.run(["userdel", self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(40):  # another engineer's useradd may hold /etc/passwd's lock
            r = subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", self.name],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if r.returncode == 0:
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"useradd {self.name}: {r.stderr!r}")
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def run(self, argv, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("timeout", 120)
        return subprocess.run(argv, user=self.uid, group=self.gid, extra_groups=[], **kw)

    def popen(self, argv, **kw):
        return subprocess.Popen(argv, user=self.uid, group=self.gid, extra_groups=[], **kw)

    def cleanup(self):
        for _ in range(40):
            r = subprocess.run(["userdel", self.name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode == 0 or b"does not exist" in r.stderr:
                return
            time.sleep(0.25)


def one_memtrace_line(stderr):
    lines = [l for l in stderr.decode(errors="replace").splitlines() if l.startswith("memtrace: ")]
    return lines


@unittest.skipUnless(ROOT, "needs root to create the attacker and victim users")
class PlantedControlDirectoryTest(unittest.TestCase):
    """The attack of issue 18: another user makes /tmp/memtrace-<victim uid>
    first and plants links named after the next process ids; the victim's
    `memtrace dump` used to write (truncate) through them."""

    def setUp(self):
        self.victim = User("v")
        self.addCleanup(self.victim.cleanup)
        self.attacker = User("a")
        self.addCleanup(self.attacker.cleanup)
        self.ctl = f"/tmp/memtrace-{self.victim.uid}"
        shutil.rmtree(self.ctl, ignore_errors=True)  # left by a user who had this uid before
        self.home = tempfile.mkdtemp(prefix="memtrace_victim_")
        os.chmod(self.home, 0o755)
        self.vdir = os.path.join(self.home, "victim")
        os.mkdir(self.vdir, 0o700)
        os.chown(self.vdir, self.victim.uid, self.victim.gid)
        self.precious = os.path.join(self.vdir, "precious.txt")
        with open(self.precious, "w") as f:
            f.write("victim's notes\n")  # 15 bytes
        os.chown(self.precious, self.victim.uid, self.victim.gid)
        self.svc = None

    def tearDown(self):
        if self.svc is not None and self.svc.poll() is None:
            self.svc.kill()
            self.svc.wait()
        shutil.rmtree(self.ctl, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    def command(self, line):
        self.svc.stdin.write((line + "\n").encode())
        self.svc.stdin.flush()
        return self.svc.stdout.readline().decode().strip()

    def precious_content(self):
        with open(self.precious) as f:
            return f.read()

    def test_planted_links_are_never_followed(self):
        r = self.attacker.run(["mkdir", "-m", "0777", self.ctl])
        self.assertEqual(r.returncode, 0, r.stderr)
        env = clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(self.vdir, "r.%n.json")})
        self.svc = self.victim.popen([fixture("live_service")], env=env, cwd=self.vdir, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(self.command("reload"), "ok 1")
        pid = self.svc.pid
        with open("/proc/sys/kernel/ns_last_pid") as f:
            last = int(f.read())
        plant = ("import os, sys\n"
                 "d, pid, target, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])\n"
                 "names = [f'{pid}.dump', f'{pid}.last'] + [f'{pid}.dump.{p}' for p in range(first, first + 3000)]\n"
                 "for n in names: os.symlink(target, os.path.join(d, n))\n")
        r = self.attacker.run([PY, "-c", plant, self.ctl, str(pid), self.precious, str(last + 1)])
        self.assertEqual(r.returncode, 0, r.stderr)

        r = self.victim.run([CLI, "dump", str(pid)], env=clean_env(), cwd=self.vdir)
        self.assertEqual(self.precious_content(), "victim's notes\n")  # was truncated to 0 bytes
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertEqual(r.stdout, b"")
        self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)
        self.assertIn(f"directory {self.ctl} belongs to uid {self.attacker.uid}, not to you".encode(), r.stderr)
        self.assertEqual(self.precious_content(), "victim's notes\n")

        # The signal still works, and needs no directory.
        r = self.victim.run([CLI, "dump", str(pid), "--signal"], env=clean_env(), cwd=self.vdir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"sent signal {signal.SIGUSR2} to {pid}".encode(), r.stdout)
        deadline = time.time() + 10
        while not glob.glob(os.path.join(self.vdir, "r.*.json")) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(load(os.path.join(self.vdir, "r.1.json"))["reason"], "signal")
        self.assertEqual(self.precious_content(), "victim's notes\n")

        out, err = self.svc.communicate(b"quit\n", timeout=60)
        self.assertEqual(self.svc.returncode, 0, err)
        # The traced program said once why its control file is off.
        lines = [l for l in one_memtrace_line(err) if "control directory" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(f"belongs to uid {self.attacker.uid}", lines[0])
        self.assertEqual(self.precious_content(), "victim's notes\n")
        self.assertEqual(os.stat(self.precious).st_size, 15)


@unittest.skipUnless(ROOT, "needs root to make a setuid program and a user to run it")
class SecureExecutionTest(unittest.TestCase):
    """A setuid-root copy of a program linked with libmemtrace, run by an
    unprivileged user who sets MEMTRACE_OUTPUT to a root-only file and asks
    for the gate: nothing is traced, written or changed, and one line says
    why."""

    def setUp(self):
        self.user = User("s")
        self.addCleanup(self.user.cleanup)
        self.top = tempfile.mkdtemp(prefix="memtrace_setuid_")
        os.chmod(self.top, 0o711)  # the user may run what is inside, not list or change it
        self.prog = os.path.join(self.top, "secure_fixture")
        shutil.copy(fixture("secure_fixture"), self.prog)
        os.chmod(self.prog, 0o4755)
        self.vault = os.path.join(self.top, "vault")
        os.mkdir(self.vault, 0o700)
        self.secret = os.path.join(self.vault, "root-only")
        with open(self.secret, "w") as f:
            f.write("root's own\n")
        os.chmod(self.secret, 0o600)
        self.drop = tempfile.mkdtemp(prefix="memtrace_setuid_drop_")
        os.chown(self.drop, self.user.uid, self.user.gid)

    def tearDown(self):
        shutil.rmtree(self.top, ignore_errors=True)
        shutil.rmtree(self.drop, ignore_errors=True)

    def test_caller_settings_are_ignored(self):
        # Control: the same program, not setuid, run by the user, is traced.
        plain = os.path.join(self.drop, "plain")
        shutil.copy(fixture("secure_fixture"), plain)
        os.chown(plain, self.user.uid, self.user.gid)
        r = self.user.run([plain], env=clean_env({"MEMTRACE_OUTPUT": os.path.join(self.drop, "plain.json")}))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), f"active=1 euid={self.user.uid} secure=0\n")
        self.assertEqual(load(os.path.join(self.drop, "plain.json"))["reason"], "exit")

        hostile = {"MEMTRACE_OUTPUT": f"{self.secret},{self.drop}/setuid.json",
                   "MEMTRACE_LEAK_EXIT_CODE": "23", "MEMTRACE_LEAK_THRESHOLD": "0",
                   "MEMTRACE_CONTROL_DIR": self.drop, "MEMTRACE_LOG": "debug", "MEMTRACE_INTERVAL": "10ms",
                   "MEMTRACE_FORMAT": "\x1b[2Jbogus"}
        r = self.user.run([self.prog], env=clean_env(hostile))
        if b"euid=0 " not in r.stdout:
            self.skipTest(f"the setuid bit is not honoured here (nosuid mount?): {r.stdout!r}")
        self.assertEqual(r.returncode, 0, r.stderr)  # the gate did not fire
        self.assertEqual(r.stdout.decode(), "active=0 euid=0 secure=1\n")
        self.assertEqual(one_memtrace_line(r.stderr),
                         ["memtrace: secure-execution mode (setuid, setgid or capabilities): tracing is off"])
        self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)  # not even the bad MEMTRACE_FORMAT is read
        with open(self.secret) as f:
            self.assertEqual(f.read(), "root's own\n")
        self.assertEqual(os.stat(self.secret).st_uid, 0)
        self.assertEqual(sorted(os.listdir(self.drop)), ["plain", "plain.json"])
        self.assertEqual(sorted(os.listdir(self.vault)), ["root-only"])
        # glibc itself never loads a preload given by path into it.
        r = self.user.run([self.prog], env=clean_env(dict(hostile, LD_PRELOAD=LIB)))
        self.assertEqual(r.stdout.decode(), "active=0 euid=0 secure=1\n")


def expectations(stdout):
    out = []
    for line in stdout.decode().splitlines():
        if line.startswith("MEMTRACE_EXPECT "):
            out.append(json.loads(line[len("MEMTRACE_EXPECT "):]))
    return out


class RelatedProcessesTest(unittest.TestCase):
    """One MEMTRACE_OUTPUT without %p for a whole process tree: the first
    traced process keeps the name, every other gets NAME.<pid>."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="memtrace_related_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_traced(self, argv, env):
        e = clean_env({"LD_PRELOAD": LIB})
        e.update(env)
        p = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        return p.pid, expectations(out), err

    def test_programs_a_traced_shell_starts_keep_their_reports(self):
        out = os.path.join(self.dir, "r.json")
        rel = fixture("related")
        sh, procs, err = self.run_traced(["/bin/sh", "-c", f"{rel} 1000; {rel} 2000; {rel} 3000"],
                                         {"MEMTRACE_OUTPUT": out})
        self.assertEqual(len(procs), 3, procs)
        names = set(os.listdir(self.dir))
        for p in procs:
            # The shell owns the bare name (a program it exec'd in its own
            # place keeps it); every other program adds its pid.
            name = "r.json" if p["pid"] == sh else f"r.json.{p['pid']}"
            self.assertIn(name, names, (p, names, err[-2000:]))
            doc = load(os.path.join(self.dir, name))
            self.assertEqual(doc["pid"], p["pid"])
            self.assertGreaterEqual(doc["totals"]["live_bytes"], p["leaked"])
        pids = [load(os.path.join(self.dir, n))["pid"] for n in names]
        self.assertEqual(len(pids), len(set(pids)), names)  # no report is another's

    def check_rotation(self, argv, parent_pid_of):
        env = {"MEMTRACE_OUTPUT": os.path.join(self.dir, "r.%n.json"), "MEMTRACE_INTERVAL": "30ms",
               "MEMTRACE_KEEP": "2", "MEMTRACE_SIGNAL": "none"}
        pid, procs, err = self.run_traced(argv, env)
        parent = parent_pid_of(pid, procs)
        children = [p["pid"] for p in procs if p["pid"] != parent]
        self.assertTrue(children, procs)
        names = sorted(os.listdir(self.dir))
        mine = [n for n in names if n.endswith(".json")]
        # The parent's newest two are still there (its exit report last),
        # whatever its children rotated.
        seqs = sorted(int(n.split(".")[1]) for n in mine)
        self.assertEqual(len(mine), 2, (names, err[-2000:]))
        last = load(os.path.join(self.dir, f"r.{seqs[-1]}.json"))
        self.assertEqual((last["pid"], last["reason"]), (parent, "exit"))
        self.assertEqual(load(os.path.join(self.dir, f"r.{seqs[0]}.json"))["pid"], parent)
        for child in children:
            theirs = [n for n in names if n.endswith(f".json.{child}")]
            self.assertEqual(len(theirs), 2, (child, names))
            for n in theirs:
                self.assertEqual(load(os.path.join(self.dir, n))["pid"], child)
        self.assertEqual(glob.glob(os.path.join(self.dir, "*.tmp.*")), [])

    def test_a_forked_child_never_rotates_the_parents_reports(self):
        self.check_rotation([fixture("related"), "1000", "400", "fork"],
                            lambda pid, procs: pid)

    def test_an_execd_child_never_rotates_the_parents_reports(self):
        rel = fixture("related")
        self.check_rotation(["/bin/sh", "-c", f"{rel} 1000 400; {rel} 500 200; exit 0"],
                            lambda pid, procs: pid)


class ControlProtocolTest(unittest.TestCase):
    def test_answers_are_not_lost_to_interval_reports(self):
        # Every report, interval ones included, rewrites <pid>.last; each
        # request's answer has a file of its own, so a dump never misses it.
        svc = Service(env={"MEMTRACE_INTERVAL": "10ms", "MEMTRACE_KEEP": "2"})
        work = tempfile.mkdtemp(prefix="memtrace_dumps_")
        try:
            self.assertEqual(svc.command("reload"), "ok 1")
            for i in range(8):
                out = os.path.join(work, f"d{i}.json")
                r = subprocess.run([CLI, "dump", str(svc.proc.pid), "--output", out, "--timeout", "20"],
                                   env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
                self.assertEqual(r.returncode, 0, (i, r.stderr))
                self.assertEqual(r.stdout.decode(), f"report written to {out}\n")
            code, _, _ = svc.quit()
            self.assertEqual(code, 0)
            ctl = f"/tmp/memtrace-{os.geteuid()}"
            self.assertEqual([n for n in os.listdir(ctl) if n.startswith(f"{svc.proc.pid}.")], [])
        finally:
            svc.cleanup()
            shutil.rmtree(work, ignore_errors=True)

    def test_malformed_request_is_ignored_and_relative_output_is_the_users(self):
        ctl = tempfile.mkdtemp(prefix="memtrace_ctl_")
        work = tempfile.mkdtemp(prefix="memtrace_cwd_")
        svc = Service(env={"MEMTRACE_CONTROL_DIR": ctl})
        try:
            self.assertEqual(svc.command("reload"), "ok 1")
            pid = svc.proc.pid
            request = os.path.join(ctl, f"{pid}.dump")
            with open(request, "wb") as f:
                f.write(b"/etc/passwd\n")  # no header: not a request
            deadline = time.time() + 5
            while os.path.exists(request) and time.time() < deadline:
                time.sleep(0.02)
            self.assertFalse(os.path.exists(request))
            self.assertEqual(svc.reports(), [])
            r = subprocess.run([CLI, "dump", str(pid), "--output", "rel.json"], cwd=work, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(), f"report written to {work}/rel.json\n")
            self.assertEqual(load(os.path.join(work, "rel.json"))["pid"], pid)
            # A name with control characters is written as asked and printed escaped.
            evil = os.path.join(work, "\x1b]0;owned\x07\x1b[2J.json")
            r = subprocess.run([CLI, "dump", str(pid), "--output", evil], env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, f"report written to {work}/\\x1b]0;owned\\x07\\x1b[2J.json\n".encode())
            self.assertEqual(load(evil)["pid"], pid)
            # A private directory that became open to others is no longer used.
            os.chmod(ctl, 0o755)
            r = subprocess.run([CLI, "dump", str(pid)], env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"is open to group or others (mode 0755, expected 0700)", r.stderr)
            code, _, err = svc.quit()
            self.assertEqual(code, 0)
            self.assertIn(b"ignoring a malformed dump request", err)
        finally:
            svc.cleanup()
            shutil.rmtree(ctl, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)


class FuzzRegressionsThroughTheCommandTest(unittest.TestCase):
    """Every input the report fuzzer ever crashed on, and every seed of its
    corpus, through the command as a user would run it: each format, and
    diff both ways; exit 0, or 1 with one printable line, never a crash."""

    def test_report_and_diff(self):
        src = os.environ.get("MEMTRACE_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
        inputs = sorted(glob.glob(os.path.join(src, "tests/fuzz/regressions/report_reader/*")) +
                        glob.glob(os.path.join(src, "tests/fuzz/corpus/report_reader/*")))
        self.assertGreater(len(inputs), 5)
        good = os.path.join(src, "tests/fuzz/corpus/report_reader/related.json")
        with tempfile.TemporaryDirectory() as d:
            for path in inputs:
                for args in (["report", path, "--top", "0"], ["report", path, "--format", "json"],
                             ["report", path, "--format", "pprof", "--output", os.path.join(d, "p.pb.gz")],
                             ["report", path, "--format", "html", "--output", os.path.join(d, "p.html")],
                             ["report", path, "--format", "folded"], ["diff", good, path], ["diff", path, good, "--json"]):
                    with self.subTest(path=os.path.basename(path), args=args[0:3:2]):
                        r = subprocess.run([CLI] + args, env=clean_env(), stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, timeout=60)
                        self.assertIn(r.returncode, (0, 1), r.stderr[-500:])
                        if r.returncode == 1:
                            self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)
                            self.assertTrue(all(0x20 <= c < 0x7f for c in r.stderr[:-1]), r.stderr)


if __name__ == "__main__":
    unittest.main()
