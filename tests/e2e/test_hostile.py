"""The memtrace command against reports that come from somewhere else:
invalid, truncated, huge or hostile input gets one line naming the field and
exit status 1, never an exception or a crash; what a report contains never
reaches the terminal raw. Plus the command-line conventions: options in both
forms, every bad value named, `run` without `--`, MEMTRACE_OUTPUT=/dev/null."""
import json
import os
import resource
import shutil
import subprocess
import tempfile
import unittest

from mtharness import CLI, LIB, clean_env, fixture

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def cli(*args, env=None, limit_as=None, **kw):
    def limit():
        if limit_as:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
    e = clean_env({"MEMTRACE_LIB": LIB})
    e.update(env or {})
    return subprocess.run([CLI] + [str(a) for a in args], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=limit, timeout=120, **kw)


class HostileReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="memtrace_hostile_")
        cls.good = os.path.join(cls.dir, "good.json")
        r = subprocess.run([fixture("outputs_fixture")], env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": cls.good}),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr
        with open(cls.good, "rb") as f:
            cls.raw = f.read()
        cls.doc = json.loads(cls.raw)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else json.dumps(content).encode())
        return path

    def assert_one_line(self, r, expect=b""):
        self.assertEqual(r.returncode, 1, (r.stdout[:200], r.stderr))
        self.assertEqual(r.stdout, b"")
        self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)
        self.assertTrue(r.stderr.startswith(b"memtrace: "), r.stderr)
        self.assertNotIn(b"terminate called", r.stderr)
        for c in r.stderr[:-1]:
            self.assertTrue(0x20 <= c < 0x7f, r.stderr)  # printable, even for hostile field values
        self.assertIn(expect, r.stderr)

    def mutated(self, fn):
        doc = json.loads(self.raw)
        fn(doc)
        return doc

    def test_corpus(self):
        cases = {
            "v1.json": (b'{"schema":"memtrace/1","sites":[1]}', b"schema: \"memtrace/1\" is not memtrace/2"),
            "site_number.json": (self.mutated(lambda d: d.__setitem__("sites", [1])), b"sites[0]: expected an object"),
            "cuda_number.json": (self.mutated(lambda d: d.__setitem__("cuda", 5)), b"cuda: expected an object"),
            "frames_string.json": (self.mutated(lambda d: d["sites"][0].__setitem__("frames", "main")),
                                   b"sites[0].frames: expected an array"),
            "frame_index.json": (self.mutated(lambda d: d["sites"][0]["frames"].append(10 ** 6)),
                                 b"is not an index into frames"),
            "negative.json": (self.mutated(lambda d: d["totals"].__setitem__("live_bytes", -5)),
                              b"totals.live_bytes: -5 is out of range"),
            "float.json": (self.mutated(lambda d: d.__setitem__("pid", 1.5)), b"pid: expected an integer, found 1.5"),
            "state.json": (self.mutated(lambda d: d["threads"][0].__setitem__("state", "\x1b[2Jgone")),
                           b"threads[0].state: \"\\x1b[2Jgone\" is not one of"),
            "missing.json": (self.mutated(lambda d: d.pop("tracer")), b"tracer: missing"),
            "array.json": (b"[]", b"not a JSON report"),
            "garbage.json": (b"\x7fELF\x02\x01\x01", b"not a JSON report (it starts with byte 0x7f)"),
            "empty.json": (b"", b"empty"),
            "deep.json": (b'{"schema":"memtrace/2","x":' + b"[" * 100000 + b"]" * 100000 + b"}", b"nested deeper"),
            "bad_escape.json": (self.raw.replace(b'"reason": "exit"', b'"reason": "\\ud800"', 1), b"unpaired surrogate"),
        }
        for name, (content, expect) in cases.items():
            with self.subTest(name):
                self.assert_one_line(cli("report", self.write(name, content)), expect)
                self.assert_one_line(cli("diff", self.good, os.path.join(self.dir, name)), expect)

    def test_every_truncation(self):
        path = os.path.join(self.dir, "cut.json")
        step = max(1, len(self.raw) // 40)
        for n in list(range(0, len(self.raw) - 1, step)) + [len(self.raw) - 3]:
            with self.subTest(n=n):
                self.write("cut.json", self.raw[:n])
                self.assert_one_line(cli("report", path))

    def test_dev_zero_under_a_memory_limit(self):
        self.assert_one_line(cli("report", "/dev/zero", limit_as=256 << 20), b"/dev/zero: not a JSON report")
        self.assert_one_line(cli("report", "/nonexistent/r.json"), b"cannot read")
        self.assert_one_line(cli("report", self.dir), b"cannot read")

    def test_input_is_bounded(self):
        self.assert_one_line(cli("report", self.good, "--max-input", "1k"), b"larger than 1.0 KiB")
        # A report that needs more memory than allowed: one line, no abort.
        big = self.mutated(lambda d: d["sites"].extend([d["sites"][0]] * 200000))
        path = self.write("big.json", big)
        r = cli("report", path, limit_as=200 << 20)
        self.assert_one_line(r, b"out of memory")
        self.assertEqual(cli("report", path, "--top", "1").returncode, 0)

    def test_strings_reach_the_terminal_escaped(self):
        evil = "\x1b]0;owned\x07\x1b[2J\u009b31m" + "\x00after-the-nul"
        doc = self.mutated(lambda d: (d["frames"][0].__setitem__("function", evil),
                                      d["threads"][0].__setitem__("name", evil),
                                      d["cuda"].__setitem__("reason", evil)))
        path = self.write("evil.json", doc)
        for args in (("report", path, "--top", "0"), ("diff", self.good, path), ("diff", path, self.good, "--json")):
            with self.subTest(args[0]):
                r = cli(*args)
                self.assertEqual(r.returncode, 0, r.stderr)
                for bad in (b"\x1b", b"\x07", b"\x00", b"\xc2\x9b"):
                    self.assertNotIn(bad, r.stdout)
        r = cli("report", path, "--top", "0")
        self.assertIn(b"\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b31m\\x00after-the-nul", r.stdout)

    def test_json_stays_valid_for_python(self):
        # A report with every byte value in its strings is valid JSON that
        # Python reads, and the CLI writes it back byte for byte.
        doc = self.mutated(lambda d: d["frames"][0].__setitem__("function", "".join(map(chr, range(1, 128)))))
        path = self.write("bytes.json", doc)
        r = cli("report", path, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["frames"][0]["function"], "".join(map(chr, range(1, 128))))


class OptionsTest(unittest.TestCase):
    def test_bad_values_are_named(self):
        good = os.devnull
        for args, expect in (
                (("report", good, "--top", "abc"), b"bad value 'abc' for --top"),
                (("report", good, "--top=-1"), b"bad value '-1' for --top"),
                (("report", good, "--format", "svg"), b"bad value 'svg' for --format"),
                (("report", good, "--bogus"), b"unknown option --bogus"),
                (("report", good, "--top"), b"--top needs a value"),
                (("diff", good, good, "--json=yes"), b"--json takes no value"),
                (("run", "--interval", "soon", "true"), b"bad value 'soon' for --interval"),
                (("run", "--gate", "lots", "true"), b"bad value 'lots' for --gate"),
                (("run", "--gate-code", "999", "true"), b"bad value '999' for --gate-code"),
                (("dump", "12", "--timeout", "x"), b"bad value 'x' for --timeout"),
                (("dump", "pid"), b"'pid' is not a pid"),
                (("bogus",), b"unknown command 'bogus'")):
            with self.subTest(args=args):
                r = cli(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(expect, r.stderr)
                self.assertEqual(r.stdout, b"")

    def test_help_and_version_everywhere(self):
        for sub in ("run", "dump", "report", "diff"):
            for flag in ("--help", "-h"):
                r = cli(sub, flag)
                self.assertEqual(r.returncode, 0, (sub, r.stderr))
                self.assertIn(b"usage: memtrace " + sub.encode(), r.stdout)
        self.assertEqual(cli("--help").returncode, 0)
        self.assertRegex(cli("--version").stdout.decode(), r"^memtrace \d+\.\d+\.\d+\n$")

    def test_run_without_separator_and_with_equals(self):
        d = tempfile.mkdtemp()
        try:
            out = os.path.join(d, "r.json")
            # The program's own options are its own, even ones memtrace has.
            r = cli("run", "--output=" + out, PY, "-c", "import sys; print(sys.argv[1:]); sys.exit(4)", "--output", "x")
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertEqual(r.stdout, b"['--output', 'x']\n")
            with open(out) as f:
                self.assertEqual(json.load(f)["reason"], "exit")
            r = cli("run", "--gate=0", "--gate-code=9", "--leak-kinds=all", fixture("leaky"))
            self.assertEqual(r.returncode, 9)
        finally:
            shutil.rmtree(d)

    def test_output_dev_null_is_accepted(self):
        before = set(os.listdir("/dev"))
        for argv in ([fixture("leaky")], [fixture("forker")]):
            r = subprocess.run(argv, env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": "/dev/null"}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn(b"memtrace report", r.stderr)
            self.assertNotIn(b"cannot write", r.stderr)
        self.assertEqual(set(os.listdir("/dev")) - before, set())  # no /dev/null.<pid> from the child

    def test_several_outputs(self):
        d = tempfile.mkdtemp()
        try:
            names = ["r.json", "r.txt", "r.pb.gz", "r.folded", "r.html"]
            out = ",".join(os.path.join(d, n) for n in names)
            r = subprocess.run([fixture("leaky")], env=clean_env({"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": out}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(os.listdir(d)), sorted(names))
            with open(os.path.join(d, "r.txt")) as f:
                self.assertTrue(f.read().startswith("memtrace report #1 (exit)"))
        finally:
            shutil.rmtree(d)

    def test_library_lookup(self):
        d = tempfile.mkdtemp()
        try:
            # A lone copy of the command: no library next to it, none in the
            # install prefix (not installed), so MEMTRACE_LIB is the last resort.
            lone = os.path.join(d, "memtrace")
            shutil.copy(CLI, lone)
            env = clean_env()
            r = subprocess.run([lone, "run", "true"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if os.path.exists("/usr/local/lib/libmemtrace.so"):
                self.skipTest("libmemtrace is installed in /usr/local on this machine")
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"cannot find libmemtrace.so", r.stderr)
            self.assertIn(b"MEMTRACE_LIB is not set", r.stderr)
            env["MEMTRACE_LIB"] = LIB
            r = subprocess.run([lone, "run", "true"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
