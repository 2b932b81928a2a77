#!/usr/bin/env python3
"""libmemtrace overhead benchmark.

Runs each workload untraced, under libmemtrace (full tracing, and sampling
one allocation per 512 KiB), and under heaptrack, side by side and
interleaved (base, memtrace, sampled, heaptrack, base, ...) for several rounds,
and prints median wall time with its range, ratios against the untraced run
and against heaptrack, peak RSS ratios and the size of what each tool wrote.
The malloc-churn workloads also report the worker threads' own CPU time per
malloc+free pair (what the hooks cost the program's threads, without any
tool's background thread). Then the tracer's memory per live block, and the
issue-7 targets with the measured value next to each. --callgrind adds
instruction counts per malloc+free pair (repeatable on a noisy machine).
Nothing here is a pass/fail test; CI never runs it.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(argv, env):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss * 1024, out


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def base_environment():
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMTRACE_") and k != "LD_PRELOAD"}


BASELINE_LIB = ""  # --baseline-lib: another build measured side by side ("baseline")


def modes(lib, heaptrack, sampled=True):
    base_env = base_environment()
    out = [("untraced", lambda argv, d: (argv, dict(base_env)))]
    if BASELINE_LIB:
        out.append(("baseline", lambda argv, d: (argv, dict(base_env, LD_PRELOAD=BASELINE_LIB,
                                                          MEMTRACE_OUTPUT=os.path.join(d, "bl.%p.json")))))

    def memtrace(argv, d):
        env = dict(base_env, LD_PRELOAD=lib, MEMTRACE_OUTPUT=os.path.join(d, "mt.%p.json"))
        return argv, env
    out.append(("memtrace", memtrace))

    if sampled:
        def sample(argv, d):
            argv, env = memtrace(argv, d)
            env["MEMTRACE_SAMPLE_BYTES"] = "512k"
            return argv, env
        out.append(("sampled", sample))
    if heaptrack:
        out.append(("heaptrack", lambda argv, d: ([heaptrack, "-o", os.path.join(d, "ht")] + argv, dict(base_env))))
    return out


def cpu_per_pair(stdout):
    m = re.search(r"worker_cpu_ns_per_pair ([0-9.]+)", stdout)
    return float(m.group(1)) if m else None


def bench_workload(name, argv, pairs, lib, heaptrack, rounds, unit="pair"):
    """Returns {mode: {"median": s, "ratio": x, "vs_heaptrack": x, "cpu": ns}}."""
    results = {}
    outputs = {}
    for _ in range(rounds):
        for mode, make in modes(lib, heaptrack):
            d = tempfile.mkdtemp(prefix="mtbench_")
            try:
                cmd, env = make(argv, d)
                results.setdefault(mode, []).append(run_once(cmd, env))
                outputs[mode] = dir_bytes(d)
            finally:
                shutil.rmtree(d, ignore_errors=True)
    base = statistics.median(t for t, _, _ in results["untraced"])
    base_rss = statistics.median(r for _, r, _ in results["untraced"])
    shown = " ".join(os.path.basename(a) if i == 0 else (a if len(a) < 40 else a[:37] + "...")
                     for i, a in enumerate(argv))
    print(f"\n== {name}: {shown} ({pairs:,} {unit}s; {rounds} rounds, interleaved) ==" if pairs
          else f"\n== {name}: {shown} ({rounds} rounds, interleaved) ==")
    has_cpu = cpu_per_pair(results["untraced"][0][2]) is not None
    print(f"  {'mode':<10} {'median s':>9} {'range s':>15} {'x untraced':>11} {'x heaptrack':>12} "
          f"{'ns/' + unit + ' added':>14}" + (f" {'worker ns/pair':>15}" if has_cpu else "") +
          f" {'peak RSS x':>11} {'wrote':>10}")
    ht = statistics.median(t for t, _, _ in results["heaptrack"]) if "heaptrack" in results else None
    summary = {}
    for mode, runs in results.items():
        times = [t for t, _, _ in runs]
        med = statistics.median(times)
        rss = statistics.median(r for _, r, _ in runs)
        cpus = [c for c in (cpu_per_pair(o) for _, _, o in runs) if c is not None]
        cpu = statistics.median(cpus) if cpus else None
        added = f"{(med - base) / pairs * 1e9:14.0f}" if pairs and mode != "untraced" else f"{'':>14}"
        vs_ht = f"{med / ht:12.2f}" if ht and mode != "heaptrack" else f"{'':>12}"
        cpu_col = f" {cpu:15.1f}" if has_cpu and cpu is not None else (f" {'':>15}" if has_cpu else "")
        print(f"  {mode:<10} {med:9.3f} {min(times):7.3f}-{max(times):<7.3f} {med / base:11.2f} {vs_ht} {added}"
              f"{cpu_col} {rss / base_rss:11.2f} {outputs.get(mode, 0) / 1024:8.0f}Ki")
        summary[mode] = {"median": med, "ratio": med / base, "vs_heaptrack": (med / ht) if ht else None,
                         "cpu": cpu}
    return summary


def fixed_cost(churn, lib, heaptrack, rounds):
    """What a run costs whatever its length: start-up and the final report
    (symbolization included), from a churn run of 1000 pairs."""
    argv = [churn, "1", "1000", "20"]
    times = {}
    for _ in range(rounds):
        for mode, make in modes(lib, heaptrack, sampled=False):
            d = tempfile.mkdtemp(prefix="mtbench_")
            try:
                cmd, env = make(argv, d)
                times.setdefault(mode, []).append(run_once(cmd, env)[0])
            finally:
                shutil.rmtree(d, ignore_errors=True)
    base = statistics.median(times["untraced"])
    extra = {m: statistics.median(t) - base for m, t in times.items() if m != "untraced"}
    print(f"\n== fixed cost per run: start-up and the final report (1000-pair churn, {rounds} rounds) ==")
    print("  " + "; ".join(f"{m} +{v * 1000:.0f} ms" for m, v in extra.items()) +
          f" over the untraced {base * 1000:.0f} ms. It weighs on the short runs above; a service that runs"
          " for minutes sees the per-pair cost.")
    return extra


def memory_after_thread_exit(burst, lib, rounds):
    """Resident memory left once 64 and 256 threads (each filling its event
    ring) have exited and a report retired their slots: what grows with the
    number of exited threads is kept per thread."""
    growth = {}
    for _ in range(rounds):
        for n in (64, 256):
            for mode, make in modes(lib, None, sampled=False):
                d = tempfile.mkdtemp(prefix="mtbench_")
                try:
                    cmd, env = make([burst, str(n), "20000"], d)
                    out = run_once(cmd, env)[2]
                finally:
                    shutil.rmtree(d, ignore_errors=True)
                m = re.search(r"rss_before_kb (\d+) rss_after_kb (\d+)", out)
                growth.setdefault((mode, n), []).append(int(m.group(2)) - int(m.group(1)))
    g = {k: statistics.median(v) for k, v in growth.items()}
    per_thread = ((g[("memtrace", 256)] - g[("memtrace", 64)]) - (g[("untraced", 256)] - g[("untraced", 64)])) / 192
    print(f"\n== memory left after threads exit: 64 / 256 threads that each filled their ring, joined ({rounds} rounds) ==")
    print(f"  RSS growth, untraced: {g[('untraced', 64)] / 1024:.1f} / {g[('untraced', 256)] / 1024:.1f} MiB; "
          f"memtrace: {g[('memtrace', 64)] / 1024:.1f} / {g[('memtrace', 256)] / 1024:.1f} MiB "
          f"(8 warm slots kept); kept per further exited thread: {per_thread:.1f} KiB")
    return per_thread


def memory_per_live_block(churn, lib, heaptrack, live):
    """The tracer's memory per live block, from a run that keeps `live` blocks."""
    argv = [churn, "1", "100000", "20", str(live)]
    print(f"\n== tracer memory per live block: {live:,} blocks of 16-272 bytes kept live ==")
    with tempfile.TemporaryDirectory() as d:
        base_rss = run_once(argv, base_environment())[1]
        env = dict(base_environment(), LD_PRELOAD=lib, MEMTRACE_OUTPUT=os.path.join(d, "mt.json"))
        mt_rss = run_once(argv, env)[1]
        with open(os.path.join(d, "mt.json")) as f:
            report = json.load(f)
        blocks = report["totals"]["live_blocks"]
        table = report["tracer"]["live_table_bytes"]
        print(f"  memtrace: live-block table {table / blocks:.1f} B per live block "
              f"({table / 2**20:.1f} MiB for {blocks:,}); all tracer memory {report['tracer']['memory_bytes'] / blocks:.1f} B; "
              f"peak RSS over untraced {(mt_rss - base_rss) / blocks:.1f} B")
        per_block = table / blocks
        if heaptrack:
            ht_rss = run_once([heaptrack, "-o", os.path.join(d, "ht")] + argv, base_environment())[1]
            print(f"  heaptrack: peak RSS over untraced {(ht_rss - base_rss) / blocks:.1f} B per live block "
                  f"(its recorder; the analysis runs afterwards)")
    return per_block


def report_size(many_stacks, lib, rounds):
    """A report of a program with 131,072 distinct allocation stacks: its size
    and the time to build and write it, with the default listing bound and with
    none (MEMTRACE_MAX_SITES=0: every site, frames still interned)."""
    print(f"\n== report of 131,072 distinct stacks (tests/e2e/many_stacks; {rounds} rounds) ==")
    sizes = {}
    for bound in ("10000", "0"):
        times, build, render = [], [], []
        for _ in range(rounds):
            d = tempfile.mkdtemp(prefix="mtbench_")
            try:
                out = os.path.join(d, "r.json")
                env = dict(base_environment(), LD_PRELOAD=lib, MEMTRACE_OUTPUT=out, MEMTRACE_MAX_SITES=bound,
                           MEMTRACE_LOG="info")
                t0 = time.monotonic()
                p = subprocess.run([many_stacks], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                times.append(time.monotonic() - t0)
                sizes[bound] = os.path.getsize(out)
                build += [float(x) for x in re.findall(r"symbolized in ([0-9.]+) ms", p.stderr)]
                render += [float(x) for x in re.findall(r"json rendered in ([0-9.]+) ms", p.stderr)]
            finally:
                shutil.rmtree(d, ignore_errors=True)
        print(f"  MEMTRACE_MAX_SITES={bound}: JSON {sizes[bound] / 2**20:.1f} MiB; whole run "
              f"{statistics.median(times):.2f} s, of which the document {statistics.median(build):.0f} ms "
              f"and the JSON {statistics.median(render):.0f} ms (medians)")
    return sizes["10000"]


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


def callgrind_per_pair(churn, lib):
    # Both runs leak at the same one site (one block per 100000 pairs), so the
    # start-up and the final report, symbolization included, cancel out. (A
    # 20000-pair run leaks nothing: its report symbolizes no site, and the
    # difference used to charge ~35 instructions of libdw to every pair.)
    n_small, n_large = 120000, 220000
    base_env = base_environment()
    mt_env = dict(base_env, LD_PRELOAD=lib, MEMTRACE_OUTPUT="/dev/null", MEMTRACE_FORMAT="json")
    sampled_env = dict(mt_env, MEMTRACE_SAMPLE_BYTES="512k")
    per = {}
    for label, env in (("untraced", base_env), ("memtrace", mt_env), ("sampled", sampled_env)):
        small = callgrind_instructions([churn, "1", str(n_small), "20"], env)
        large = callgrind_instructions([churn, "1", str(n_large), "20"], env)
        per[label] = (large - small) / (n_large - n_small)  # start-up and report cancel out
    print("\n== instructions per malloc+free pair (callgrind, 1 thread, 20 frames; all threads counted) ==")
    print(f"  untraced {per['untraced']:.0f}; memtrace {per['memtrace']:.0f} (added {per['memtrace'] - per['untraced']:.0f}); "
          f"sampled {per['sampled']:.0f} (added {per['sampled'] - per['untraced']:.0f})")
    # operator new/delete through libstdc++: the new hooks pass them on to the
    # malloc hooks (docs/design.md, "C++ operator new and delete").
    new_churn = os.path.join(os.path.dirname(churn), "bench_new_churn")
    if os.path.exists(new_churn):
        for form, arg in (("new+delete", "s"), ("new[]+delete[]", "a")):
            cost = {}
            for label, env in (("untraced", base_env), ("memtrace", mt_env)):
                small = callgrind_instructions([new_churn, "1", str(n_small), arg], env)
                large = callgrind_instructions([new_churn, "1", str(n_large), arg], env)
                cost[label] = (large - small) / (n_large - n_small)
            print(f"  {form}: untraced {cost['untraced']:.0f}; memtrace {cost['memtrace']:.0f} "
                  f"(added {cost['memtrace'] - cost['untraced']:.0f})")
    return per["memtrace"] - per["untraced"]


def scan_pause(build, rounds):
    """The reachability scan (src/scan) on 1 GiB of live heap in 1,000,000
    blocks (bench_scan_heap), run by the e2e scan driver: the pause (every
    thread stopped until memory is read and marked), its parts, the graph
    passes after the target resumed, and the memory the scan's structures
    take. The driver reads its stand-in live table before the stop (the
    watcher holds its table in its own memory)."""
    driver = os.path.join(build, "tests", "e2e", "scan_driver")
    workload = os.path.join(build, "bench", "bench_scan_heap")
    if not (os.path.exists(driver) and os.path.exists(workload)):
        print("\n== scan: scan_driver or bench_scan_heap not built ==")
        return None
    results = {}
    for method in ("vm", "mem"):
        with tempfile.TemporaryDirectory(prefix="mtbench_scan_") as d:
            out = os.path.join(d, "scan.json")
            subprocess.run([driver, "--json", out, "--slots", "2097152", "--frames", "1", "--no-blocks",
                            "--no-symbols", "--table-before-stop", "--repeat", str(rounds), "--method", method,
                            "--", workload], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                           env=base_environment())
            with open(out) as f:
                results[method] = json.load(f)
    scans = results["vm"]["scans"]
    med = lambda key, runs=scans: statistics.median(s[key] for s in runs)  # noqa: E731
    print(f"\n== reachability scan: {scans[0]['blocks']:,} live blocks, {scans[0]['block_bytes'] / 2**30:.2f} GiB "
          f"({rounds} scans of one process) ==")
    print(f"  {'pause (world stopped)':<44} {med('paused_ns') / 1e9:8.3f} s   "
          f"range {min(s['paused_ns'] for s in scans) / 1e9:.3f}-{max(s['paused_ns'] for s in scans) / 1e9:.3f}")
    print(f"    {'sorting and indexing the blocks':<42} {med('index_ns') / 1e9:8.3f} s")
    print(f"    {'roots (maps, stacks, TLS, module data)':<42} {med('roots_ns') / 1e9:8.3f} s")
    print(f"    {'reading blocks, finding pointers':<42} "
          f"{(med('read_ns') - med('index_ns') - med('roots_ns')) / 1e9:8.3f} s")
    print(f"    {'marking from the roots':<42} {med('mark_ns') / 1e9:8.3f} s")
    print(f"  {'cliques and totals (after the resume)':<44} {med('classify_ns') / 1e9:8.3f} s")
    mem_scans = results["mem"]["scans"]
    print(f"  {'pause with /proc/PID/mem instead':<44} {med('paused_ns', mem_scans) / 1e9:8.3f} s")
    print(f"  {'stop latency (interrupt to all stopped)':<44} {med('stop_latency_ns') / 1e6:8.2f} ms")
    mem = scans[0]["scan_memory_bytes"]
    print(f"  {'scan memory (index, graph, marks, buffers)':<44} {mem / 2**20:8.1f} MiB  "
          f"({mem / scans[0]['blocks']:.0f} B per block; {scans[0]['pointers']:,} pointers found)")
    t = results["vm"]["totals"]
    print(f"  {'kinds':<44} definite {t['definite']['blocks']:,}, indirect {t['indirect']['blocks']:,}, "
          f"reachable {t['reachable']['blocks']:,} blocks")
    return {"pause": med("paused_ns") / 1e9, "memory": mem}


def print_targets(rows):
    print("\n== targets (issues 7 and 14; measured in this run) ==")
    for what, target, value, met in rows:
        mark = "n/a" if value is None else ("met" if met else "NOT met")
        print(f"  {what:<58} {target:>14}  {value if value is not None else '-':>16}  {mark}")


def symbolization_cost(build, lib, baseline_lib, rounds):
    """Symbolization per report: start-up plus the final JSON report of short
    programs whose reports are mostly symbolization (deep std:: inlining, the
    demo, and glibc lines from libc6-dbg), minus the untraced run. With
    --baseline-lib, the same for another build (e.g. before a change)."""
    programs = [("inline_fixture (-O2, deep std:: inlining)", [os.path.join(build, "tests", "e2e", "inline_fixture"), "100"], {}),
                ("inline_fixture, MEMTRACE_LIBC_LINES=1", [os.path.join(build, "tests", "e2e", "inline_fixture"), "100"],
                 {"MEMTRACE_LIBC_LINES": "1"}),
                ("demo", [os.path.join(build, "demo", "inference_service"), "20"], {})]
    libs = [("this build", lib)] + ([("baseline", baseline_lib)] if baseline_lib else [])
    print(f"\n== symbolization per report: start-up + final JSON report, minus the untraced run ({rounds} rounds) ==")
    base_env = base_environment()
    for title, argv, extra in programs:
        if not os.path.exists(argv[0]):
            print(f"  {title}: {argv[0]} not built")
            continue
        times, shape = {}, {}
        for _ in range(rounds):
            times.setdefault("untraced", []).append(run_once(argv, dict(base_env))[0])
            for name, path in libs:
                d = tempfile.mkdtemp(prefix="mtbench_")
                try:
                    out = os.path.join(d, "r.json")
                    env = dict(base_env, LD_PRELOAD=path, MEMTRACE_OUTPUT=out, MEMTRACE_TOP="0", **extra)
                    times.setdefault(name, []).append(run_once(argv, env)[0])
                    with open(out) as f:
                        doc = json.load(f)
                    shape[name] = (len(doc["sites"]), sum(len(x["frames"]) for x in doc["sites"]))
                finally:
                    shutil.rmtree(d, ignore_errors=True)
        base = statistics.median(times["untraced"])
        cells = [f"{name} +{(statistics.median(times[name]) - base) * 1000:.1f} ms "
                 f"({shape[name][0]} sites, {shape[name][1]} frames)" for name, _ in libs]
        print(f"  {title}: " + "; ".join(cells) + f" (untraced {base * 1000:.1f} ms)")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=2000000)
    ap.add_argument("--live", type=int, default=1000000, help="live blocks for the memory-per-block run")
    ap.add_argument("--only", default="", help="comma-separated workloads: churn1,churn2,threads,omp,mmap,python,sqlite,fixed,symbolize,exited,memory,report,scan")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions per pair (slow)")
    ap.add_argument("--baseline-lib", default="",
                    help="also run this libmemtrace.so (e.g. a build of an older commit) as the mode 'baseline' in "
                         "every workload, and in symbolize")
    ap.add_argument("--without-system-debuginfo", action="store_true",
                    help="run everything with /usr/lib/debug hidden (needs root: a private mount namespace), as on a "
                         "machine without libc6-dbg; its compressed DWARF is most of the tracer's fixed cost")
    args = ap.parse_args()
    global BASELINE_LIB
    BASELINE_LIB = os.path.abspath(args.baseline_lib) if args.baseline_lib else ""
    if args.without_system_debuginfo and os.environ.get("MTBENCH_DEBUGINFO_HIDDEN") != "1":
        empty = tempfile.mkdtemp(prefix="mtbench_nodebug_")
        argv = [sys.executable, os.path.abspath(__file__)] + [a for a in sys.argv[1:] if a != "--without-system-debuginfo"]
        script = f"mount --bind {empty} /usr/lib/debug && exec \"$@\""
        os.environ["MTBENCH_DEBUGINFO_HIDDEN"] = "1"
        os.execvp("unshare", ["unshare", "-m", "sh", "-c", script, "sh"] + argv)
    lib = os.path.join(args.build, "libmemtrace.so")
    bench = os.path.join(args.build, "bench")
    churn = os.path.join(bench, "bench_churn")
    heaptrack = shutil.which("heaptrack")
    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only  # noqa: E731
    if not heaptrack:
        print("heaptrack not found: comparing against the untraced run only", file=sys.stderr)
    print(f"libmemtrace benchmark on {os.cpu_count()} CPUs; heaptrack: {heaptrack or 'absent'}" +
          ("; /usr/lib/debug hidden" if os.environ.get("MTBENCH_DEBUGINFO_HIDDEN") == "1" else ""))
    r = {}
    if want("churn1"):
        r["churn1"] = bench_workload("malloc churn, 1 thread, 20-frame stacks", [churn, "1", str(args.pairs), "20"],
                                     args.pairs, lib, heaptrack, args.rounds)
    if want("churn2"):
        r["churn2"] = bench_workload("malloc churn, 2 threads, cross-thread frees", [churn, "2", str(args.pairs), "20"],
                                     args.pairs, lib, heaptrack, args.rounds)
    tc = os.path.join(bench, "bench_thread_churn")
    if want("threads"):
        r["threads"] = bench_workload("thread churn: 300 pools of 4 pthreads, 2000 pairs each",
                                      [tc, "pthread", "300", "4", "2000"], 300 * 4 * 2000, lib, heaptrack, args.rounds)
    if want("omp"):
        r["omp"] = bench_workload("thread churn: 300 OpenMP pools (a new host thread each), 4 threads",
                                  [tc, "omp", "300", "4", "2000"], 300 * 4 * 2000, lib, heaptrack, args.rounds)
    if want("mmap"):
        r["mmap"] = bench_workload("mmap mix: anonymous and file mappings, trims, mremap",
                                   [os.path.join(bench, "bench_mmap_mix"), "100000"], 0, lib, heaptrack, args.rounds)
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    if want("python"):
        script = ("import json,re\nfor i in range(60000):\n d=json.loads(json.dumps({'k':[i,str(i)*3],'v':i/3}))\n"
                  " re.findall(r'[0-9]+', str(d))\n")
        r["python"] = bench_workload("real program: python3 JSON + regex", [py, "-c", script], 0, lib, heaptrack,
                                     args.rounds)
    sqlite = shutil.which("sqlite3")
    if want("sqlite") and sqlite:
        sql = ("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v REAL);"
               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 200000) "
               "INSERT INTO t SELECT i, hex(randomblob(8)), random() % 1000 FROM c;"
               "CREATE INDEX tk ON t(k); SELECT count(*), sum(v) FROM t GROUP BY substr(k, 1, 2) LIMIT 3;")
        r["sqlite"] = bench_workload("real program: sqlite3 insert, index, group by", [sqlite, ":memory:", sql], 0,
                                     lib, heaptrack, args.rounds)
    if want("fixed"):
        fixed_cost(churn, lib, heaptrack, args.rounds)
    if want("symbolize"):
        symbolization_cost(args.build, lib, args.baseline_lib, args.rounds)
    per_exited = memory_after_thread_exit(os.path.join(bench, "bench_thread_burst"), lib, args.rounds) \
        if want("exited") else None
    per_block = memory_per_live_block(churn, lib, heaptrack, args.live) if want("memory") else None
    report_bytes = report_size(os.path.join(args.build, "tests", "e2e", "many_stacks"), lib, args.rounds) \
        if want("report") else None
    added_instr = callgrind_per_pair(churn, lib) if args.callgrind and shutil.which("valgrind") else None
    scan = scan_pause(args.build, max(args.rounds, 3)) if want("scan") else None

    def get(w, mode, key):
        return r.get(w, {}).get(mode, {}).get(key)

    def row(what, target, limit, w, mode="memtrace", key="ratio", fmt="{:.2f}x"):
        v = get(w, mode, key)
        return (what, target, None if v is None else fmt.format(v), v is not None and v <= limit)

    rows = [
        row("full tracing, malloc churn, 1 thread (x untraced)", "<= 2.0x", 2.0, "churn1"),
        row("full tracing, malloc churn, 2 threads (x untraced)", "<= 2.5x", 2.5, "churn2"),
        row("full tracing, thread churn, pthreads (x untraced)", "<= 2.5x", 2.5, "threads"),
        row("full tracing, thread churn, OpenMP (x untraced)", "<= 2.5x", 2.5, "omp"),
    ]
    for w, label in (("churn1", "malloc churn, 1 thread"), ("churn2", "malloc churn, 2 threads"),
                     ("threads", "thread churn, pthreads"), ("omp", "thread churn, OpenMP")):
        v = get(w, "memtrace", "vs_heaptrack")
        rows.append((f"  ... vs heaptrack on {label}", "<= 0.33x",
                     None if v is None else f"{v:.2f}x", v is not None and v <= 1 / 3))
    rows.append(row("sampling 512 KiB, malloc churn, 1 thread (x untraced)", "<= 1.05x", 1.05, "churn1", "sampled"))
    rows.append(("added instructions per malloc+free pair (callgrind)", "<= 600",
                 None if added_instr is None else f"{added_instr:.0f}", added_instr is not None and added_instr <= 600))
    rows.append(("tracer memory kept per exited thread (KiB, RSS)", "~0 (<= 32)",
                 None if per_exited is None else f"{per_exited:.1f}", per_exited is not None and per_exited <= 32))
    rows.append(("tracer bytes per live block (live-block table)", "<= 64",
                 None if per_block is None else f"{per_block:.1f}", per_block is not None and per_block <= 64))
    rows.append(("JSON report of 131,072 distinct stacks (MiB)", "<= 16",
                 None if report_bytes is None else f"{report_bytes / 2**20:.1f}",
                 report_bytes is not None and report_bytes <= 16 << 20))
    rows.append(("leak scan pause, 1 GiB in 1,000,000 blocks (s)", "< 0.5",
                 None if scan is None else f"{scan['pause']:.3f}", scan is not None and scan["pause"] < 0.5))
    print_targets(rows)


if __name__ == "__main__":
    main()
