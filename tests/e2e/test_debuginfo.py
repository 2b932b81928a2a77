"""Separate debug info found without debuginfod: a program whose DWARF was
split off with objcopy and named by .gnu_debuglink (next to it, or in its
.debug/ directory) still gets file:line in the report; a debug file of
another build is refused, by build-id or, without one, by CRC (names only,
from the symbol table); and the report never loads libdebuginfod into the
traced process; glibc's frames get lines only on request."""
import os
import shutil
import subprocess
import tempfile
import unittest

from mtharness import run_traced, sites_with_frame0

SOURCE = r"""
#include <stdlib.h>
void* volatile g_keep;
__attribute__((noinline)) void debuglink_leak(void) {
  g_keep = malloc(777);  /* line 5 */
}
int main(void) {
  debuglink_leak();
  return 0;
}
"""


class DebuglinkTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="memtrace_debuglink_")
        self.prog = os.path.join(self.dir, "prog")
        self.build(self.prog)

    def build(self, out, source=SOURCE, flags=()):
        src = os.path.join(self.dir, "debuglink_fixture.c")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run(["cc", "-g", "-O1", *flags, "-o", out, src], check=True)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def split(self, debug_path):
        """Moves the DWARF to debug_path and links it by name and CRC."""
        subprocess.run(["objcopy", "--only-keep-debug", self.prog, debug_path], check=True)
        subprocess.run(["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug_path}", self.prog], check=True)

    def leak_frame(self, env=None):
        run = run_traced([self.prog], env=env)
        self.assertEqual(run.returncode, 0, run.stderr)
        sites = sites_with_frame0(run.report, "debuglink_leak")
        self.assertEqual(len(sites), 1, run.report["sites"])
        self.assertEqual(sites[0]["live_bytes"], 777)
        return sites[0]["frames"][0], run

    def test_debug_file_next_to_the_program(self):
        self.split(self.prog + ".debug")
        frame, _ = self.leak_frame()
        self.assertTrue(frame["file"].endswith("debuglink_fixture.c"), frame)
        self.assertEqual(frame["line"], 5)

    def test_debug_file_without_build_id_checked_by_crc(self):
        self.build(self.prog, flags=["-Wl,--build-id=none"])
        self.split(self.prog + ".debug")
        frame, _ = self.leak_frame()
        self.assertEqual(frame["line"], 5, frame)

    def test_debug_file_in_dot_debug_directory(self):
        os.mkdir(os.path.join(self.dir, ".debug"))
        self.split(os.path.join(self.dir, ".debug", "prog.debug"))
        frame, _ = self.leak_frame()
        self.assertEqual(frame["line"], 5, frame)

    def other_builds_debug_file(self, flags=()):
        """The program and, under its debug file's name, the DWARF of a build
        whose lines differ (a blank line moves everything down by one)."""
        other = os.path.join(self.dir, "other")
        self.build(other, "\n" + SOURCE, flags)
        self.build(self.prog, SOURCE, flags)
        self.split(self.prog + ".debug")
        subprocess.run(["objcopy", "--only-keep-debug", other, self.prog + ".debug"], check=True)

    def test_debug_file_of_another_build_is_refused_by_build_id(self):
        self.other_builds_debug_file()
        frame, _ = self.leak_frame()
        self.assertFalse(frame.get("file"), frame)  # not line 6 of the other build

    def test_debug_file_of_another_build_is_refused_by_crc(self):
        self.other_builds_debug_file(["-Wl,--build-id=none"])
        frame, _ = self.leak_frame()
        self.assertFalse(frame.get("file"), frame)

    def test_no_debuginfod_in_the_traced_process(self):
        self.split(os.path.join(self.dir, "elsewhere.debug"))  # nothing to find: libdw's last resort
        os.remove(os.path.join(self.dir, "elsewhere.debug"))
        _, run = self.leak_frame(env={"LD_DEBUG": "files"})
        self.assertNotIn(b"libdebuginfod", run.stderr)


def libc_debug_file():
    """libc6-dbg's debug file for this machine's libc, or None."""
    out = subprocess.run(["readelf", "-n", "/lib/x86_64-linux-gnu/libc.so.6"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            bid = line.split()[-1]
            path = f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
            return path if os.path.exists(path) else None
    return None


class LibcLinesTest(unittest.TestCase):
    """glibc's frames are named but, by default, not given source lines: that
    would inflate libc6-dbg's compressed DWARF (~60 ms a report).
    MEMTRACE_LIBC_LINES=1 asks for them."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="memtrace_libc_lines_")
        src = os.path.join(self.dir, "debuglink_fixture.c")
        with open(src, "w") as f:
            f.write(SOURCE)
        self.prog = os.path.join(self.dir, "prog")
        subprocess.run(["cc", "-g", "-O1", "-o", self.prog, src], check=True)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def libc_frames(self, env=None):
        run = run_traced([self.prog], env=env)
        self.assertEqual(run.returncode, 0, run.stderr)
        site = sites_with_frame0(run.report, "debuglink_leak")[0]
        self.assertEqual(site["frames"][0]["line"], 5)  # the program's own lines stay
        frames = [f for f in site["frames"] if os.path.basename(f["module"]).startswith("libc.so")]
        self.assertTrue(frames, site["frames"])
        return frames

    def test_named_without_lines_by_default(self):
        for f in self.libc_frames():
            self.assertTrue(f["function"], f)
            self.assertFalse(f.get("file"), f)

    def test_lines_on_request(self):
        if libc_debug_file() is None:
            self.skipTest("libc6-dbg is not installed: libc has no line information here")
        frames = self.libc_frames(env={"MEMTRACE_LIBC_LINES": "1"})
        self.assertTrue(any(f.get("file") for f in frames), frames)


if __name__ == "__main__":
    unittest.main()
