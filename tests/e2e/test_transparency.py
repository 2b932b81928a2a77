"""Real programs run unchanged under the preload: byte-identical stdout and
stderr and the same exit status, and a sane report for each."""
import os
import shutil
import tempfile
import unittest

from mtharness import run_plain, run_traced

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")

PY_SCRIPT = r"""
import json, re, collections
words = collections.Counter()
for i in range(20000):
    doc = json.dumps({"id": i, "tags": ["t%d" % (i % 17), "x" * (i % 31)], "score": i / 7})
    back = json.loads(doc)
    for w in re.findall(r"[a-z]+\d*", doc):
        words[w] += 1
print(len(words), sum(words.values()), words.most_common(3))
"""

SQL = """
create table t(id integer primary key, name text, v real);
with recursive c(x) as (select 1 union all select x+1 from c where x < 20000)
insert into t(name, v) select 'name' || x, x * 1.5 from c;
create index t_name on t(name);
select count(*), sum(v), max(name) from t;
select name from t where id % 4000 = 0 order by name;
"""


class TransparencyTest(unittest.TestCase):
    def assertSame(self, argv, stdin=None, cwd=None, env=None):
        plain = run_plain(argv, stdin=stdin, cwd=cwd, env=env)
        traced = run_traced(argv, stdin=stdin, cwd=cwd, env=env)
        self.assertEqual(traced.stdout, plain.stdout, argv)
        self.assertEqual(traced.stderr, plain.stderr, argv)
        self.assertEqual(traced.returncode, plain.returncode, argv)
        report = traced.report
        self.assertGreater(report["tracer"]["events"], 0)
        self.assertEqual(report["tracer"]["dropped_events"], 0)
        heap = report["totals"]["spaces"]["heap"]
        self.assertEqual(heap["allocs"] - heap["frees"], heap["live_blocks"])
        self.assertEqual(report["totals"]["replaced_blocks"], 0)
        return plain

    def test_python(self):
        self.assertSame([PY, "-c", PY_SCRIPT])

    def test_python_error_exit_status(self):
        plain = self.assertSame([PY, "-c", "import sys; print('bye'); sys.exit(7)"])
        self.assertEqual(plain.returncode, 7)

    def test_sqlite3(self):
        d = tempfile.mkdtemp()
        try:
            db = os.path.join(d, "a.db")
            self.assertSame(["sqlite3", ":memory:"], stdin=SQL.encode())
            plain = run_plain(["sqlite3", db], stdin=SQL.encode())
            os.unlink(db)
            traced = run_traced(["sqlite3", db], stdin=SQL.encode())
            self.assertEqual(traced.stdout, plain.stdout)
        finally:
            shutil.rmtree(d)

    def test_git(self):
        d = tempfile.mkdtemp()
        try:
            env = {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
                   "HOME": d}
            git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
            for i in range(2):
                repo = os.path.join(d, f"r{i}")
                os.mkdir(repo)
                with open(os.path.join(repo, "f.txt"), "w") as f:
                    f.write("hello\n" * 1000)
            for i, runner in enumerate((run_plain, run_traced)):
                repo = os.path.join(d, f"r{i}")
                for cmd in (["init", "-q"], ["add", "f.txt"], ["commit", "-q", "-m", "one"]):
                    r = runner(git + cmd, cwd=repo, env=env)
                    self.assertEqual(r.returncode, 0, r.stderr)
            self.assertSame(git + ["log", "--stat"], cwd=os.path.join(d, "r0"), env=env)
            a = run_plain(git + ["log", "--format=%H %s"], cwd=os.path.join(d, "r0"), env=env)
            b = run_plain(git + ["log", "--format=%H %s"], cwd=os.path.join(d, "r1"), env=env)
            self.assertEqual(a.stdout, b.stdout)  # the traced commit is the same commit
        finally:
            shutil.rmtree(d)

    def test_sort_large_file(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "in.txt")
            with open(path, "w") as f:
                x = 12345
                for i in range(300000):
                    x = (x * 1103515245 + 12345) % (1 << 31)
                    f.write(f"{x:010d} line {i}\n")
            self.assertSame(["sort", "--parallel=2", "-S", "8M", "-T", d, path], env={"LC_ALL": "C"})
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
