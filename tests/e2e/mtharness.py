"""Shared helpers for the end-to-end tests: run a program under the preload,
read its JSON report, and read the ground truth the fixture printed.

Environment (set by CTest): MEMTRACE_LIB (the preload), MEMTRACE_FIXTURES
(the directory of fixture binaries), MEMTRACE_DEMO (the demo binary)."""
import glob
import json
import os
import shutil
import subprocess
import tempfile

LIB = os.environ.get("MEMTRACE_LIB", "")
FIXTURES = os.environ.get("MEMTRACE_FIXTURES", "")
DEMO = os.environ.get("MEMTRACE_DEMO", "")
CLI = os.environ.get("MEMTRACE_CLI", "")


def fixture(name):
    return os.path.join(FIXTURES, name)


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_") and k != "LD_PRELOAD"}
    env.update(extra or {})
    return env


def build_go(package, work, name, *flags):
    """Builds tests/e2e/PACKAGE (a cgo program) into WORK/NAME offline, with
    Debian's Go and caches inside WORK; returns the binary's path."""
    src = os.path.join(work, "src-" + package)
    if not os.path.isdir(src):
        shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), package), src)
    env = clean_env({"GOCACHE": os.path.join(work, "cache"), "GOPATH": os.path.join(work, "gopath"),
                     "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "1"})
    binary = os.path.join(work, name)
    subprocess.run(["go", "build", *flags, "-o", binary, "."], cwd=src, env=env, check=True)
    return binary


class Run:
    def __init__(self, proc, reports, outdir):
        self.proc = proc
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.reports = reports  # pid -> parsed JSON report
        self.outdir = outdir

    @property
    def report(self):
        assert len(self.reports) == 1, f"expected one report, got {sorted(self.reports)}; stderr: {self.stderr[-2000:]!r}"
        return next(iter(self.reports.values()))

    def expectations(self, kind=None):
        out = []
        for line in self.stdout.decode(errors="replace").splitlines():
            if line.startswith("MEMTRACE_EXPECT "):
                e = json.loads(line[len("MEMTRACE_EXPECT "):])
                if kind is None or e["kind"] == kind:
                    out.append(e)
        return out


def run_traced(argv, env=None, timeout=300, stdin=None, cwd=None, preload=True):
    """Runs argv under the preload with a JSON report per process."""
    outdir = tempfile.mkdtemp(prefix="memtrace_e2e_")
    extra = {"MEMTRACE_OUTPUT": os.path.join(outdir, "report.%p.json")}
    if preload:
        extra["LD_PRELOAD"] = LIB
    extra.update(env or {})
    proc = subprocess.run(argv, env=clean_env(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, input=stdin, cwd=cwd)
    reports = {}
    for path in glob.glob(os.path.join(outdir, "report.*.json")):
        doc = load(path)
        reports[doc["pid"]] = doc
    shutil.rmtree(outdir, ignore_errors=True)
    return Run(proc, reports, outdir)


def run_plain(argv, env=None, timeout=300, stdin=None, cwd=None):
    return subprocess.run(argv, env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, input=stdin, cwd=cwd)


# Memory glibc allocates for its own bookkeeping and keeps until exit: the
# atexit handler list once more than 32 handlers are registered (GCC 12's
# libstdc++ registers one per translation unit that includes <iostream>, and
# Debian's abseil pulls that in), and stdio buffers. Live at exit in many
# programs; the exact checks below count them explicitly.
LIBC_BOOKKEEPING = ("__new_exitfn", "_IO_file_doallocate")


def is_bookkeeping(site):
    return bool(site["frames"]) and site["frames"][0]["function"] in LIBC_BOOKKEEPING


def bookkeeping(report):
    """(live bytes, live blocks) of glibc bookkeeping sites."""
    sites = [s for s in report["sites"] if is_bookkeeping(s)]
    return sum(s["live_bytes"] for s in sites), sum(s["live_blocks"] for s in sites)


def frame_functions(site):
    return [f["function"] or "" for f in site["frames"]]


def sites_with_frame0(report, function):
    return [s for s in report["sites"] if s["frames"] and s["frames"][0]["function"] == function]


def sites_touching(report, function_substring):
    return [s for s in report["sites"] if any(function_substring in fn for fn in frame_functions(s))]


class Service:
    """A traced live_service process driven line by line."""

    def __init__(self, args=(), env=None, outdir=None):
        self.outdir = outdir or tempfile.mkdtemp(prefix="memtrace_live_")
        extra = {"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": os.path.join(self.outdir, "r.%n.json")}
        extra.update(env or {})
        self.proc = subprocess.Popen([fixture("live_service")] + list(args), env=clean_env(extra),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def command(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.proc.stdout.readline().decode().strip()

    def reports(self):
        return sorted(glob.glob(os.path.join(self.outdir, "r.*.json")),
                      key=lambda p: int(os.path.basename(p).split(".")[1]))

    def wait_for_reports(self, count, timeout=10):
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.reports()) >= count:
                return self.reports()
            time.sleep(0.02)
        raise AssertionError(f"only {len(self.reports())} reports after {timeout}s")

    def quit(self):
        out, err = self.proc.communicate(b"quit\n", timeout=60)
        return self.proc.returncode, out, err

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.outdir, ignore_errors=True)


def expand(doc):
    """A memtrace/2 report with its frame references resolved, as the tests
    read it: sites[].frames and by_creator[].creator_frames become lists of
    frame objects whose "module" is the module's path, and every site gets
    its position as "index" (what by_creator[].exited_by_site[].site names)."""
    modules = doc["modules"]
    frames = [dict(f, module=modules[f["module"]]["path"] if f["module"] is not None else None) for f in doc["frames"]]
    for i, s in enumerate(doc["sites"]):
        s["frames"] = [frames[k] for k in s["frames"]]
        s["index"] = i
    for c in doc["by_creator"]:
        c["creator_frames"] = [frames[k] for k in c["creator_frames"]]
    return doc


def load(path):
    """A JSON report, expanded (see expand)."""
    with open(path) as f:
        return expand(json.load(f))
