#!/usr/bin/env python3
"""Compares a libmemtrace JSON report with the MEMTRACE_EXPECT lines a GPU
check program printed: device bytes per function must match exactly.
usage: check_report.py REPORT.json PROGRAM_STDOUT"""
import json
import sys


def main():
    report = json.load(open(sys.argv[1]))
    # memtrace/2: sites refer to the frame table by index.
    frames = report["frames"]
    for s in report["sites"]:
        s["frames"] = [frames[k] for k in s["frames"]]
    want = {}
    for line in open(sys.argv[2]):
        if line.startswith("MEMTRACE_EXPECT "):
            e = json.loads(line[len("MEMTRACE_EXPECT "):])
            want[e["function"]] = want.get(e["function"], 0) + e["live_bytes"]
    got = {}
    for s in report["sites"]:
        if s["space"] != "cuda_device":
            continue
        names = [f["function"] for f in s["frames"]]
        for fn in want:
            if fn in names:
                got[fn] = got.get(fn, 0) + s["live_bytes"]
                break
    print("cuda layers:", report["cuda"])
    print("devices:", report["devices"])
    ok = True
    for fn, bytes_ in sorted(want.items()):
        mark = "ok" if got.get(fn, 0) == bytes_ else "MISMATCH"
        ok &= mark == "ok"
        print(f"  {fn:<14} expected {bytes_:>12} got {got.get(fn, 0):>12}  {mark}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
