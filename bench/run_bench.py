#!/usr/bin/env python3
"""libmemtrace overhead benchmark.

Runs each workload untraced, under libmemtrace (full tracing, and sampling
one allocation per 512 KiB), and under heaptrack, side by side and
interleaved (base, memtrace, sampled, heaptrack, base, ...) for several rounds,
and prints median wall time with its range, ratios against the untraced run
and against heaptrack, peak RSS ratios, and the size of what each tool wrote.
--callgrind adds instruction counts per malloc+free pair (repeatable on a
noisy machine). Nothing here is a pass/fail test; CI never runs it.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(argv, env):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv} exited {code}")
    return elapsed, usage.ru_maxrss * 1024


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def modes(lib, heaptrack):
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_") and k != "LD_PRELOAD"}
    out = [("untraced", lambda argv, d: (argv, dict(base_env)))]

    def memtrace(argv, d):
        env = dict(base_env, LD_PRELOAD=lib, MEMTRACE_OUTPUT=os.path.join(d, "mt.%p.json"))
        return argv, env
    out.append(("memtrace", memtrace))

    def sampled(argv, d):
        argv, env = memtrace(argv, d)
        env["MEMTRACE_SAMPLE_BYTES"] = "512k"
        return argv, env
    out.append(("sampled", sampled))
    if heaptrack:
        out.append(("heaptrack", lambda argv, d: ([heaptrack, "-o", os.path.join(d, "ht")] + argv, dict(base_env))))
    return out


def bench_workload(name, argv, pairs, lib, heaptrack, rounds):
    results = {}
    outputs = {}
    for _ in range(rounds):
        for mode, make in modes(lib, heaptrack):
            d = tempfile.mkdtemp(prefix="mtbench_")
            try:
                cmd, env = make(argv, d)
                t, rss = run_once(cmd, env)
                results.setdefault(mode, []).append((t, rss))
                outputs[mode] = dir_bytes(d)
            finally:
                shutil.rmtree(d, ignore_errors=True)
    base = statistics.median(t for t, _ in results["untraced"])
    base_rss = statistics.median(r for _, r in results["untraced"])
    print(f"\n== {name}: {' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv))}"
          f" ({pairs:,} malloc+free pairs; {rounds} rounds, interleaved) ==" if pairs else f"\n== {name} ({rounds} rounds) ==")
    print(f"  {'mode':<10} {'median s':>9} {'range s':>15} {'x untraced':>11} {'x heaptrack':>12} "
          f"{'ns/pair added':>14} {'peak RSS x':>11} {'wrote':>10}")
    ht = statistics.median(t for t, _ in results["heaptrack"]) if "heaptrack" in results else None
    for mode, runs in results.items():
        times = [t for t, _ in runs]
        med = statistics.median(times)
        rss = statistics.median(r for _, r in runs)
        added = f"{(med - base) / pairs * 1e9:14.0f}" if pairs and mode != "untraced" else f"{'':>14}"
        vs_ht = f"{med / ht:12.2f}" if ht and mode != "heaptrack" else f"{'':>12}"
        print(f"  {mode:<10} {med:9.3f} {min(times):7.3f}-{max(times):<7.3f} {med / base:11.2f} {vs_ht} {added} "
              f"{rss / base_rss:11.2f} {outputs.get(mode, 0) / 1024:8.0f}Ki")
    return results


def callgrind_instructions(argv, env):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=no"] + argv,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        with open(out) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    return int(line.split()[1])
    raise RuntimeError("no callgrind totals")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=2000000)
    ap.add_argument("--callgrind", action="store_true", help="also count instructions per pair (slow)")
    args = ap.parse_args()
    lib = os.path.join(args.build, "libmemtrace.so")
    churn = os.path.join(args.build, "bench", "bench_churn")
    heaptrack = shutil.which("heaptrack")
    if not heaptrack:
        print("heaptrack not found: comparing against the untraced run only", file=sys.stderr)
    print(f"libmemtrace benchmark on {os.cpu_count()} CPUs; heaptrack: {heaptrack or 'absent'}")
    bench_workload("malloc churn, 1 thread, 20-frame stacks", [churn, "1", str(args.pairs), "20"], args.pairs,
                   lib, heaptrack, args.rounds)
    bench_workload("malloc churn, 2 threads, cross-thread frees", [churn, "2", str(args.pairs), "20"], args.pairs,
                   lib, heaptrack, args.rounds)
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    script = ("import json,re\nfor i in range(60000):\n d=json.loads(json.dumps({'k':[i,str(i)*3],'v':i/3}))\n"
              " re.findall(r'[0-9]+', str(d))\n")
    bench_workload("real program: python3 JSON + regex", [py, "-c", script], 0, lib, heaptrack, args.rounds)
    if args.callgrind and shutil.which("valgrind"):
        n_small, n_large = 20000, 120000
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_") and k != "LD_PRELOAD"}
        mt_env = dict(base_env, LD_PRELOAD=lib, MEMTRACE_OUTPUT="/dev/null", MEMTRACE_FORMAT="json")
        per = {}
        for label, env in (("untraced", base_env), ("memtrace", mt_env)):
            small = callgrind_instructions([churn, "1", str(n_small), "20"], env)
            large = callgrind_instructions([churn, "1", str(n_large), "20"], env)
            per[label] = (large - small) / (n_large - n_small)  # start-up and report cancel out
        print(f"\n== instructions per malloc+free pair (callgrind, 1 thread, 20 frames) ==")
        print(f"  untraced {per['untraced']:.0f}, memtrace {per['memtrace']:.0f}, "
              f"added {per['memtrace'] - per['untraced']:.0f}")


if __name__ == "__main__":
    main()
