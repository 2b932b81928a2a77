#!/usr/bin/env python3
"""Real programs under the tracer: `make bench-real`.

Each workload -- torch (import alone, and a small CPU workload), node,
numpy, sqlite3 -- runs untraced, under libmemtrace with default settings
(LD_PRELOAD only: the text report goes to stderr) and under heaptrack
(`heaptrack -o FILE cmd`, recording and interpreting, as users run it),
interleaved (untraced, memtrace, heaptrack, untraced, ...) for several
rounds. Printed per workload: median wall time with its range and the ratio
to the untraced run, peak RSS, and what each tool wrote. Then one more run
under libmemtrace with a JSON report (MEMTRACE_OUTPUT=...json), for the JSON
size and the tracer's own numbers (events, stacks, sites, its memory in the
program and in the watcher).

What "peak memory" is here. A run is a tree of processes: the program and
its watcher (a clone child of the program, which the program reaps at its
exit), or heaptrack's script, the program, heaptrack_interpret and zstd.
The program and its watcher share the tracer's region (rings, stack depot):
its pages are in the RSS of both. Measured:
  - process: ru_maxrss of the command (wait4 in bench_spawn_rss): the
           largest single process of the tree -- ru_maxrss of a process
           that reaped children is the larger of its own and theirs, never
           the sum (for libmemtrace: the program or its watcher, whichever
           peaked higher). Started through bench_spawn_rss, a ~1 MiB
           process, because a child of this Python script inherits the
           script's RSS in its ru_maxrss (the kernel keeps the high-water
           mark of the mm an exec leaves: /bin/true started from python3
           reports 14 MiB, 218 MiB once the script has grown to 200 MiB);
  - tree:  the highest sum, sampled every 10 ms from /proc/PID/status,
           over the tree's live processes of their anonymous and file pages
           (RssAnon + RssFile), plus the largest shared-memory RSS
           (RssShmem) among them: the tracer's region, mapped by the program
           and its watcher, counts once (summing RSS would count it twice).
           File pages both touch (libraries) still count twice (a few MiB);
           growth shorter than 10 ms can be missed.
Nothing here is a pass/fail test; CI never runs it.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Debian's interpreter, where python3-torch and python3-numpy live (a python3
# earlier on PATH, e.g. pyenv's, would not have them).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"

TORCH_IMPORT = "import torch; print(torch.__version__)"

TORCH_WORK = r"""
import torch
torch.manual_seed(0)
a = torch.randn(512, 512)
b = torch.randn(512, 512)
for _ in range(20):
    c = a @ b
model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                            torch.nn.ReLU(), torch.nn.Linear(512, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(64, 256)
y = torch.randint(0, 10, (64,))
for step in range(100):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
print("steps", step + 1, "finite", bool(torch.isfinite(loss)))
"""

NODE_WORK = r"""
const zlib = require('zlib');
const keep = [];
for (let i = 0; i < 400; i++) {
  const b = Buffer.alloc(64 * 1024, i & 255);
  const t = new Float64Array(8192).fill(i);
  keep.push(b.toString('base64').slice(0, 64) + t[i % 8192]);
  if (keep.length > 50) keep.shift();
}
const obj = {items: Array.from({length: 30000}, (_, i) => ({id: i, name: 'item' + i, tags: ['a', 'b', String(i)], v: i * 1.5}))};
let s = '';
for (let i = 0; i < 5; i++) { s = JSON.stringify(obj); JSON.parse(s); }
const z = zlib.gzipSync(Buffer.from(s));
const back = zlib.gunzipSync(z).toString();
console.log('json bytes', s.length, 'round trip', back === s);
"""

NUMPY_WORK = r"""
import numpy as np
rng = np.random.default_rng(0)
for i in range(30):
    a = rng.standard_normal((300, 300))
    b = a @ a.T
    np.linalg.eigvalsh(b[:100, :100])
    np.sort(rng.standard_normal(200000))
    np.fft.fft(rng.standard_normal(65536))
print("ok")
"""


def sqlite_script(rows=5000):
    lines = ["BEGIN;", "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, v REAL);"]
    lines += [f"INSERT INTO t(name, grp, v) VALUES ('name {i}', {i % 37}, {i * 0.5});" for i in range(rows)]
    lines += ["COMMIT;", "CREATE INDEX t_grp ON t(grp);",
              "SELECT grp, count(*), sum(v) FROM t GROUP BY grp ORDER BY grp LIMIT 3;"]
    return ("\n".join(lines) + "\n").encode()


def torch_present():
    return subprocess.run([PYTHON, "-c", "import torch"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def numpy_present():
    return subprocess.run([PYTHON, "-c", "import numpy"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def workloads(scripts):
    """(name, argv, stdin bytes, why it is skipped or None). Multi-line
    programs run from files in `scripts`, not `-c`/`-e`: heaptrack records
    the command line in its line-based trace, and a newline in an argument
    breaks heaptrack_interpret ("failed to parse line"). Every mode runs the
    same argv."""
    def script(name, text):
        path = os.path.join(scripts, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    node = shutil.which("node") or shutil.which("nodejs")
    torch_ok = torch_present()
    return [
        ("torch import", [PYTHON, "-c", TORCH_IMPORT], None, None if torch_ok else "python3-torch is not installed"),
        ("torch CPU work", [PYTHON, script("torch_work.py", TORCH_WORK)], None,
         None if torch_ok else "python3-torch is not installed"),
        ("node", [node or "node", script("node_work.js", NODE_WORK)], None, None if node else "node is not installed"),
        ("numpy", [PYTHON, script("numpy_work.py", NUMPY_WORK)], None,
         None if numpy_present() else "python3-numpy is not installed"),
        ("sqlite3 5000 inserts", ["sqlite3", ":memory:"], sqlite_script(),
         None if shutil.which("sqlite3") else "sqlite3 is not installed"),
    ]


# -- measuring a run -------------------------------------------------------

def read_rss(pid):
    """(RssAnon + RssFile, RssShmem) in bytes, or None once the process is
    gone (the kernel's counters: cheap enough to read every 10 ms)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    own = shmem = 0
    for line in text.splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            own += int(line.split()[1]) * 1024
        elif line.startswith("RssShmem:"):
            shmem = int(line.split()[1]) * 1024
    return own, shmem


def tree(root):
    out, todo = [], [root]
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


class Sampler(threading.Thread):
    """The tree under `root` (but `skip`) every `period` seconds until
    stopped: the highest sum of its processes' anonymous and file pages plus
    the largest shared-memory RSS among them (the tracer's region is mapped
    by the program and its watcher: counted once) is `peak`."""

    def __init__(self, root, skip=None, period=0.01):
        super().__init__(daemon=True)
        self.root = root
        self.skip = skip
        self.period = period
        self.stop = threading.Event()
        self.peak = 0

    def run(self):
        while not self.stop.is_set():
            own = shmem = 0
            for p in tree(self.root):
                r = read_rss(p) if p != self.skip else None
                if r is not None:
                    own += r[0]
                    shmem = max(shmem, r[1])
            self.peak = max(self.peak, own + shmem)
            self.stop.wait(self.period)


def run_once(spawn, argv, env, child_env, stdin, cwd):
    """One run through bench_spawn_rss (a small launcher, see above; the
    child_env pairs are set in the command only): wall seconds, peak memory
    (process, tree), stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp, \
            tempfile.NamedTemporaryFile(mode="r") as maxrss:
        if stdin:
            inp.write(stdin)
            inp.seek(0)
        start = time.perf_counter()
        pairs = [f"{k}={v}" for k, v in child_env.items()]
        proc = subprocess.Popen([spawn, maxrss.name] + pairs + ["--"] + argv, env=env, stdin=inp, stdout=out,
                                stderr=err, cwd=cwd)
        sampler = Sampler(proc.pid, skip=proc.pid)
        sampler.start()
        _, status, _ = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        if code != 0:
            raise RuntimeError(f"{argv[:3]} exited {code}: {stderr[-2000:]!r}")
        process_peak = int(maxrss.read().split()[0]) * 1024
    return {"time": elapsed, "process": process_peak, "tree": max(sampler.peak, 0), "stdout": stdout,
            "stderr": stderr}


def base_environment():
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_") and k != "LD_PRELOAD"}


def dir_bytes(path):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(path, "**"), recursive=True) if os.path.isfile(p))


def mib(n):
    return n / 2**20


def bench(name, argv, stdin, lib, heaptrack, spawn, rounds):
    base = base_environment()
    modes = [("untraced", lambda d: (argv, {})),
             ("memtrace", lambda d: (argv, {"LD_PRELOAD": lib}))]
    if heaptrack:
        modes.append(("heaptrack", lambda d: ([heaptrack, "-o", os.path.join(d, "ht")] + argv, {})))
    runs = {m: [] for m, _ in modes}
    wrote = {m: [] for m, _ in modes}
    for _ in range(rounds):
        for mode, make in modes:
            d = tempfile.mkdtemp(prefix="mtbench_real_")
            try:
                cmd, child_env = make(d)
                r = run_once(spawn, cmd, base, child_env, stdin, d)
                runs[mode].append(r)
                if mode == "heaptrack":
                    wrote[mode].append(dir_bytes(d))
                elif mode == "memtrace":
                    base_err = len(runs["untraced"][-1]["stderr"].splitlines()) if runs["untraced"] else 0
                    wrote[mode].append((len(r["stderr"]), len(r["stderr"].splitlines()) - base_err))
            finally:
                shutil.rmtree(d, ignore_errors=True)
    if runs["memtrace"] and runs["untraced"]:
        same = runs["memtrace"][0]["stdout"] == runs["untraced"][0]["stdout"]
    else:
        same = None

    # One more run with a JSON report: its size and the tracer's own numbers.
    d = tempfile.mkdtemp(prefix="mtbench_real_")
    try:
        run_once(spawn, argv, base, {"LD_PRELOAD": lib, "MEMTRACE_OUTPUT": os.path.join(d, "mt.%p.json")}, stdin, d)
        reports = sorted(glob.glob(os.path.join(d, "mt.*.json")))
        json_bytes = sum(os.path.getsize(p) for p in reports)
        with open(reports[0]) as f:
            doc = json.load(f)
    finally:
        shutil.rmtree(d, ignore_errors=True)

    print(f"\n== {name} ({rounds} rounds, interleaved; medians) ==")
    print(f"  {'mode':<10} {'wall s':>7} {'range s':>13} {'x untraced':>10} {'process MiB':>11} {'x':>5} "
          f"{'tree MiB':>12} {'x':>5}  wrote")
    bt = statistics.median(r["time"] for r in runs["untraced"])
    bp = statistics.median(r["process"] for r in runs["untraced"])
    btree = statistics.median(r["tree"] for r in runs["untraced"])
    summary = {"stdout_same": same, "json_bytes": json_bytes}
    for mode, rs in runs.items():
        t = statistics.median(r["time"] for r in rs)
        pr = statistics.median(r["process"] for r in rs)
        tr = statistics.median(r["tree"] for r in rs)
        if mode == "memtrace":
            text_bytes = statistics.median(b for b, _ in wrote[mode])
            text_lines = statistics.median(n for _, n in wrote[mode])
            w = f"text report {text_lines:.0f} lines ({text_bytes / 1024:.0f} KiB) on stderr; JSON {json_bytes / 1024:.0f} KiB"
        elif mode == "heaptrack":
            w = f"trace {statistics.median(wrote[mode]) / 1024:.0f} KiB"
        else:
            w = ""
        print(f"  {mode:<10} {t:7.3f} {min(r['time'] for r in rs):6.3f}-{max(r['time'] for r in rs):<6.3f} "
              f"{t / bt:10.2f} {mib(pr):11.1f} {pr / bp:5.2f} {mib(tr):12.1f} {tr / btree if btree else 0:5.2f}  {w}")
        summary[mode] = {"time": t, "ratio": t / bt, "process": pr, "process_ratio": pr / bp, "tree": tr,
                         "tree_ratio": tr / btree if btree else None}
    tracer = doc.get("tracer", {})
    totals = doc.get("totals", {})
    print(f"  memtrace JSON report: {json_bytes:,} bytes; {len(doc.get('sites', []))} sites listed "
          f"({sum(e.get('sites', 0) for e in doc.get('sites_omitted', {}).get('spaces', []))} omitted), "
          f"{len(doc.get('frames', []))} frames; {tracer.get('events', 0):,} events, {tracer.get('stacks', 0):,} stacks, "
          f"{tracer.get('threads', 0)} threads, ring stalls {tracer.get('ring_stalls', 0)}, dropped {tracer.get('dropped_events', 0)}; "
          f"tracer memory {mib(tracer.get('memory_bytes', 0)):.1f} MiB in the program, "
          f"watcher {mib(tracer.get('watcher_memory_bytes', 0)):.1f} MiB; live at exit {mib(totals.get('live_bytes', 0)):.1f} MiB"
          f"; end {doc.get('end', {}).get('how')}")
    if same is False:
        print("  NOTE: stdout differs between the untraced and the traced run")
    summary["report"] = {"sites": len(doc.get("sites", [])), "frames": len(doc.get("frames", [])),
                         "events": tracer.get("events"), "stacks": tracer.get("stacks"),
                         "memory_bytes": tracer.get("memory_bytes"), "watcher_memory_bytes": tracer.get("watcher_memory_bytes")}
    return summary


def versions():
    out = []
    for argv in ([PYTHON, "-c", "import torch; print('torch', torch.__version__)"],
                 [PYTHON, "-c", "import numpy; print('numpy', numpy.__version__)"],
                 ["node", "--version"], ["sqlite3", "--version"], ["heaptrack", "--version"], [PYTHON, "--version"]):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if r.returncode == 0:
                out.append(r.stdout.decode().split("\n")[0].strip()[:60])
        except (OSError, subprocess.TimeoutExpired):
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated workload names (prefixes): torch,node,numpy,sqlite3")
    ap.add_argument("--no-heaptrack", action="store_true")
    ap.add_argument("--json", help="write the medians here as JSON")
    args = ap.parse_args()
    lib = os.path.join(os.path.abspath(args.build), "libmemtrace.so")
    if not os.path.exists(lib):
        sys.exit(f"{lib} is missing: build first")
    heaptrack = None if args.no_heaptrack else shutil.which("heaptrack")
    spawn = os.path.join(os.path.abspath(args.build), "bench", "bench_spawn_rss")
    if not os.path.exists(spawn):
        sys.exit(f"{spawn} is missing: build first")
    print(f"machine: {os.cpu_count()} CPUs; {'; '.join(versions())}")
    results = {}
    only = [o for o in args.only.split(",") if o]
    scripts = tempfile.mkdtemp(prefix="mtbench_real_scripts_")
    for name, argv, stdin, skip in workloads(scripts):
        if only and not any(name.startswith(o) for o in only):
            continue
        if skip:
            print(f"\n== {name}: skipped ({skip}) ==")
            continue
        results[name] = bench(name, argv, stdin, lib, heaptrack, spawn, args.rounds)
    shutil.rmtree(scripts, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
