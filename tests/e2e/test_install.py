"""`cmake --install` puts a working tool in place: the library, the command,
the header, a pkg-config file and the man page; the installed `memtrace run`
finds its library in the prefix; the C API, the command and the reports agree
on the version."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from mtharness import clean_env

BUILD = os.environ.get("MEMTRACE_BUILD", "")
SOURCE = os.environ.get("MEMTRACE_SOURCE", "")


@unittest.skipUnless(BUILD, "MEMTRACE_BUILD is not set (run through ctest)")
class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="memtrace_prefix_")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr.decode()
        cls.log = r.stdout.decode()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def find(self, relative_tail):
        for root, _, files in os.walk(self.prefix):
            for f in files:
                p = os.path.join(root, f)
                if p.endswith(relative_tail):
                    return p
        self.fail(f"{relative_tail} not installed; installed:\n{self.log}")

    def test_files_in_place(self):
        self.assertTrue(os.access(os.path.join(self.prefix, "bin", "memtrace"), os.X_OK))
        lib = self.find("/libmemtrace.so")
        self.assertTrue(os.path.dirname(lib).startswith(os.path.join(self.prefix, "lib")))
        header = self.find("/include/memtrace/memtrace.h")
        with open(header) as f:
            self.assertIn("memtrace_version", f.read())
        man = self.find("/man1/memtrace.1")
        with open(man) as f:
            self.assertTrue(f.read().startswith(".TH MEMTRACE 1"))
        r = subprocess.run(["man", "-l", "-P", "cat", man], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=clean_env({"MANWIDTH": "80"}))
        if r.returncode == 0:  # man-db may be absent; the file itself was checked above
            self.assertIn(b"memtrace run", r.stdout)

    def test_pkg_config(self):
        if not shutil.which("pkg-config"):
            self.skipTest("pkg-config is not installed")
        pc_dir = os.path.dirname(self.find("/pkgconfig/memtrace.pc"))
        env = clean_env({"PKG_CONFIG_PATH": pc_dir})
        version = subprocess.run(["pkg-config", "--modversion", "memtrace"], env=env, stdout=subprocess.PIPE,
                                 check=True).stdout.decode().strip()
        cli_version = subprocess.run([os.path.join(self.prefix, "bin", "memtrace"), "--version"],
                                     stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        self.assertEqual(cli_version, "memtrace " + version)
        preload = subprocess.run(["pkg-config", "--variable=preload", "memtrace"], env=env, stdout=subprocess.PIPE,
                                 check=True).stdout.decode().strip()
        self.assertEqual(os.path.realpath(preload), os.path.realpath(self.find("/libmemtrace.so")))
        cflags = subprocess.run(["pkg-config", "--cflags", "memtrace"], env=env, stdout=subprocess.PIPE,
                                check=True).stdout.decode().split()
        self.assertIn(os.path.realpath(os.path.join(self.prefix, "include")),
                      [os.path.realpath(f[2:]) for f in cflags if f.startswith("-I")])

    def test_installed_run_uses_the_installed_library_and_the_c_api(self):
        d = tempfile.mkdtemp()
        try:
            # A program built against the installed header, calling the C API.
            src = os.path.join(d, "uses_api.c")
            with open(src, "w") as f:
                f.write('#include <memtrace/memtrace.h>\n#include <stdio.h>\n#include <stdlib.h>\n'
                        'int main(void) { void* leak = malloc(1234); (void)leak;\n'
                        '  printf("%s\\n%s\\n", memtrace_version ? memtrace_version() : "untraced", getenv("LD_PRELOAD"));\n'
                        '  return 0; }\n')
            exe = os.path.join(d, "uses_api")
            subprocess.run(["cc", "-I", os.path.join(self.prefix, "include"), src, "-o", exe], check=True)
            self.assertEqual(subprocess.run([exe], stdout=subprocess.PIPE, env=clean_env()).stdout,
                             b"untraced\n(null)\n")
            out = os.path.join(d, "r.json")
            env = clean_env()  # no MEMTRACE_LIB: the library comes from the prefix
            r = subprocess.run([os.path.join(self.prefix, "bin", "memtrace"), "run", "--output", out, exe], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                report = json.load(f)
            version, preload = r.stdout.decode().split()
            self.assertEqual(version, report["version"])
            self.assertEqual(os.path.realpath(preload), os.path.realpath(self.find("/libmemtrace.so")))
            cli_version = subprocess.run([os.path.join(self.prefix, "bin", "memtrace"), "--version"],
                                         stdout=subprocess.PIPE).stdout.decode().strip()
            self.assertEqual(cli_version, "memtrace " + report["version"])
            self.assertTrue(any(s["live_bytes"] == 1234 for s in report["sites"]))
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
