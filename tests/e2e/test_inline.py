"""Every frame as addr2line reads it: for each site of an -O2 C++ fixture with
deep std:: inlining, every inlined scope and the physical frame -- function
(demangled), file, line, and the number of inlined frames per return address
-- must equal what `addr2line -f -i -C -e MODULE OFFSET` prints. The same for
glibc's own frames with MEMTRACE_LIBC_LINES=1 (DWARF from libc6-dbg, found
by build-id), where it is installed. The demo names its own lines."""
import os
import subprocess
import unittest
from collections import defaultdict

from mtharness import DEMO, fixture, is_bookkeeping, run_traced

LIBC_DEBUG = "/usr/lib/debug/.build-id"


def groups(frames):
    """Frames per return address: inlined ones, then the physical one."""
    out, cur = [], []
    for f in frames:
        cur.append(f)
        if not f["inlined"]:
            out.append(cur)
            cur = []
    return out


def addr2line(module, offsets):
    """{offset: [(function, file, line)]} for every offset, in one addr2line run."""
    args = ["addr2line", "-a", "-f", "-i", "-C", "-e", module] + [hex(o) for o in offsets]
    lines = subprocess.run(args, stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    result, cur = {}, None
    i = 0
    while i < len(lines):
        if lines[i].startswith("0x") and (i + 1 >= len(lines) or not lines[i].startswith("0x0") or True):
            # "-a" prints the address before its frames.
            try:
                cur = int(lines[i], 16)
                result[cur] = []
                i += 1
                continue
            except ValueError:
                pass
        function, location = lines[i], lines[i + 1]
        path, _, line = location.rpartition(":")
        line = line.split(" ")[0]
        result[cur].append((function, path, int(line) if line.isdigit() else 0))
        i += 2
    return result


def binutils_view(ours, theirs):
    """Ours, rewritten the two ways binutils 2.40's addr2line is known to
    differ from the DWARF (libdw, gdb and llvm-symbolizer agree with us), so
    that anything else shows up as a difference:
    - DWARF 5 directory 0 is the compilation directory; for a relative one
      (glibc's "./libio") addr2line prefixes it once more:
      ./libio/./libio/fileops.c where the file is ./libio/fileops.c;
    - in a C++ unit, the innermost inlined function whose DIE has no linkage
      name (a C function such as getline from <stdio.h>, or GCC's
      __static_initialization_and_destruction_0) is named after the ELF
      symbol of the physical function holding the code."""
    out = []
    for k, (fn, path, line) in enumerate(ours):
        if k < len(theirs):
            tpath = theirs[k][1]
            rel = path[2:] if path.startswith("./") else path
            if not path.startswith("/") and tpath != path and tpath.endswith("/" + rel):
                path = tpath
            if k == 0 and len(ours) > 1 and len(theirs) == len(ours) and theirs[0][0] == theirs[-1][0] != fn:
                fn = theirs[0][0]
        out.append((fn, path, line))
    return out


def gdb_line(module, offset):
    """(file, line) gdb gives for an address: the referee where binutils and
    libdw read the line table differently."""
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", f"info line *{hex(offset)}", module],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    for line in out.splitlines():
        if line.startswith("Line "):
            number, _, rest = line[5:].partition(" of \"")
            return rest.partition("\"")[0], int(number)
    return None


class InlineChainTest(unittest.TestCase):
    gdb_refereed = 0

    def compare(self, report, module_filter):
        wanted = defaultdict(set)  # module -> offsets
        ours = {}
        for site in report["sites"]:
            for g in groups(site["frames"]):
                m = g[-1]["module"]
                if not module_filter(m):
                    continue
                self.assertTrue(all(f["offset"] == g[-1]["offset"] for f in g))
                wanted[m].add(g[-1]["offset"])
                ours[(m, g[-1]["offset"])] = [(f["function"], f["file"] or "??", f["line"] or 0) for f in g]
        self.assertTrue(ours, "no frame in the modules compared")
        diffs = []
        for m, offsets in wanted.items():
            theirs = addr2line(m, sorted(offsets))
            for o in offsets:
                view = binutils_view(ours[(m, o)], theirs[o])
                if theirs[o] == view:
                    continue
                # binutils 2.40 sometimes names the unit's primary file for a
                # line of a header (glibc's __libc_start_call_main); accept ours
                # where gdb reads the line table as we do and all else agrees.
                first = ours[(m, o)][0]
                if (len(view) == len(theirs[o]) and view[1:] == theirs[o][1:] and view[0][0] == theirs[o][0][0]
                        and view[0][2] == theirs[o][0][2] and gdb_line(m, o) == (first[1], first[2])):
                    self.gdb_refereed += 1
                    continue
                diffs.append((m, hex(o), ours[(m, o)], theirs[o]))
        self.assertEqual(diffs, [], "\n".join(f"{d[0]} {d[1]}\n ours:  {d[2]}\n a2l:   {d[3]}" for d in diffs[:5]))
        return ours

    def test_fixture_frames_match_addr2line(self):
        run = run_traced([fixture("inline_fixture"), "100"])
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        ours = self.compare(run.report, lambda m: m.endswith("/inline_fixture"))
        # Deep inlining was there to compare: chains of 8 and more frames.
        self.assertGreaterEqual(max(len(v) for v in ours.values()), 8)
        self.assertGreaterEqual(len(ours), 15)
        # Each Build* function is named as the physical frame of some site, at its own line.
        physical = {v[-1][0] for v in ours.values()}
        for fn in ("BuildVector(int)", "BuildString(char const*, int)", "BuildShared(int)", "BuildMaps(int)",
                   "BuildDeque(int)", "CallLibc(int)"):
            self.assertIn(fn, physical)

    @unittest.skipUnless(os.path.isdir(LIBC_DEBUG), "libc6-dbg is not installed")
    def test_glibc_frames_match_addr2line(self):
        run = run_traced([fixture("inline_fixture"), "100"], env={"MEMTRACE_LIBC_LINES": "1"})
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        ours = self.compare(run.report, lambda m: os.path.basename(m) == "libc.so.6")
        # glibc inlines too (getline -> __getdelim, _IO_doallocbuf): some chains are longer than one.
        self.assertTrue(any(len(v) > 1 for v in ours.values()))
        self.assertIn("__GI___strdup", {v[-1][0] for v in ours.values()} | {f[0] for v in ours.values() for f in v})


class DemoLinesTest(unittest.TestCase):
    def test_every_demo_site_names_its_line(self):
        run = run_traced([DEMO, "20"])
        self.assertEqual(run.returncode, 0)
        lines = set()
        for site in run.report["sites"]:
            if is_bookkeeping(site):
                continue
            demo = [f for f in site["frames"] if f["file"] and f["file"].endswith("demo/inference_service.cc")]
            self.assertTrue(demo, [(f["function"], f["file"], f["line"]) for f in site["frames"]])
            lines.add(demo[0]["line"])
        # model_create_from_file: the Model (28), its name (29), weights (30), feature map (31).
        self.assertTrue({28, 29, 30, 31} <= lines, lines)


if __name__ == "__main__":
    unittest.main()
