"""Helpers for the reachability-scan tests: run a program under the scan
driver (scan_driver: stop-the-world, scan, JSON), run it under Valgrind
memcheck, and read memcheck's loss records per allocation site."""
import json
import os
import re
import subprocess
import tempfile

from mtharness import FIXTURES, clean_env, fixture

DRIVER = os.path.join(FIXTURES, "scan_driver")

KIND_WORDS = {"definitely lost": "definite", "indirectly lost": "indirect",
              "possibly lost": "possible", "still reachable": "reachable"}
RECORD = re.compile(r"^==\d+== ([\d,]+)(?: \(([\d,]+) direct, ([\d,]+) indirect\))? bytes in ([\d,]+) blocks are "
                    r"(definitely lost|indirectly lost|possibly lost|still reachable) in loss record")
FRAME = re.compile(r"^==\d+==    (?:at|by) 0x[0-9A-Fa-f]+: (.*?) \(")


class ScanRun:
    def __init__(self, proc, doc):
        self.proc = proc
        self.returncode = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.doc = doc

    def site(self, name):
        for s in self.doc.get("sites", []):
            if s["site"] == name:
                return s
        return {}

    def expectations(self):
        out = []
        for line in self.stdout.splitlines():
            if line.startswith("MEMTRACE_EXPECT "):
                e = json.loads(line[len("MEMTRACE_EXPECT "):])
                if e["kind"] == "scan_site":
                    out.append(e)
        return out


def run_scan(argv, options=(), env=None, timeout=300, cwd=None):
    with tempfile.TemporaryDirectory(prefix="scan_e2e_") as d:
        out = os.path.join(d, "scan.json")
        proc = subprocess.run([DRIVER, "--json", out] + list(options) + ["--"] + list(argv), env=clean_env(env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd=cwd)
        doc = {}
        if os.path.exists(out):
            with open(out) as f:
                doc = json.load(f)
        return ScanRun(proc, doc)


def memcheck_by_site(argv, site_prefix, first_check_only=True, timeout=600, extra=()):
    """{(site, kind): [bytes, blocks]} from memcheck's loss records, for the
    first leak check in the log (a VALGRIND_DO_LEAK_CHECK) or the last (exit).
    A record's site is its first frame whose function starts with
    site_prefix (every frame's, when site_prefix is empty: the first)."""
    with tempfile.TemporaryDirectory(prefix="scan_vg_") as d:
        log = os.path.join(d, "vg.log")
        proc = subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--errors-for-leak-kinds=none",
                               "--log-file=" + log] + list(extra) + list(argv), env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        with open(log) as f:
            lines = f.read().splitlines()
    checks, current = [], []
    for line in lines:
        current.append(line)
        if "LEAK SUMMARY" in line:
            checks.append(current)
            current = []
    if not checks:
        return {}, proc
    chosen = checks[0] if first_check_only else checks[-1]
    result = {}
    i = 0
    while i < len(chosen):
        m = RECORD.match(chosen[i])
        i += 1
        if not m:
            continue
        total, direct, _indirect, blocks, words = m.groups()
        nbytes = int((direct or total).replace(",", ""))
        kind = KIND_WORDS[words]
        site = None
        while i < len(chosen):
            fm = FRAME.match(chosen[i])
            if not fm:
                break
            fn = fm.group(1)
            if site is None and (fn.startswith(site_prefix) if site_prefix else True):
                site = fn
            i += 1
        if site is None:
            continue
        acc = result.setdefault((site, kind), [0, 0])
        acc[0] += nbytes
        acc[1] += int(blocks.replace(",", ""))
    return result, proc


SUMMARY = re.compile(r"^==\d+==\s+(definitely lost|indirectly lost|possibly lost|still reachable): ([\d,]+) bytes in ([\d,]+) blocks")


def memcheck_summary(argv, cwd=None, timeout=600, env=None):
    """{kind: [bytes, blocks]} from memcheck's last LEAK SUMMARY (at exit)."""
    with tempfile.TemporaryDirectory(prefix="scan_vg_") as d:
        log = os.path.join(d, "vg.log")
        subprocess.run(["valgrind", "--leak-check=full", "--log-file=" + log] + list(argv), env=clean_env(env),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, cwd=cwd)
        with open(log) as f:
            text = f.read()
    out = {}
    for line in text.splitlines():
        m = SUMMARY.match(line)
        if m:
            out[KIND_WORDS[m.group(1)]] = [int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))]
    return out
