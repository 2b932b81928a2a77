"""Every output format of one report, checked against what the fixture knows
and against the tools that read them: the JSON round trip through
`memtrace report` prints exactly the live text report (every section, a
non-UTF-8 source path); go tool pprof reads the pprof profile and agrees with
the JSON per function, to the byte (and symbolizes it offline); folded stacks
add up to the live bytes; the HTML page renders in headless Chromium; sites
that share a source line are one site, and a report diffed with itself shows
nothing; the listing bound keeps every total exact."""
import collections
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from mtharness import CLI, LIB, Service, clean_env, expand, fixture, load

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("MEMTRACE_SOURCE", os.path.dirname(os.path.dirname(HERE)))
BUILD = os.environ.get("MEMTRACE_BUILD", "")
GO = shutil.which("go")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# omp_reloads: threads, creators, OpenMP pools and a timeline in one report.
OMP_ENV = {"OMP_DYNAMIC": "false", "OMP_WAIT_POLICY": "passive", "MEMTRACE_SAMPLE_PERIOD": "20ms"}


def run(argv, outputs, env=None, cwd=None):
    """Runs argv under the preload writing each of `outputs` (one report)."""
    extra = {"LD_PRELOAD": LIB, "MEMTRACE_OUTPUT": ",".join(outputs)}
    extra.update(env or {})
    return subprocess.run(argv, env=clean_env(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                          timeout=300)


def cli(*args, **kw):
    return subprocess.run([CLI] + [str(a) for a in args], env=clean_env({"MEMTRACE_LIB": LIB}),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, **kw)


def frame_name(f):
    """The name pprof and folded stacks give a frame (pprof_report.cc)."""
    if f["function"]:
        return f["function"]
    module = os.path.basename(f["module"] or "??")
    return f"{module}+{f['offset']:#x}"


def json_bytes_by_leaf(report):
    """Live bytes per frame-0 function: what pprof -top shows as flat."""
    out = collections.Counter()
    for s in report["sites"]:
        name = frame_name(s["frames"][0]) if s["frames"] else "[no stack]"
        out[name] += s["live_bytes"]
    for o in report["sites_omitted"]["spaces"]:
        out["[sites beyond MEMTRACE_MAX_SITES]"] += o["live_bytes"]
    return {k: v for k, v in out.items() if v}


def pprof_top(*args):
    """go tool pprof -top as {function: flat bytes} (zero rows left out)."""
    r = subprocess.run([GO, "tool", "pprof", "-top", "-unit=byte", "-nodecount=1000000", "-nodefraction=0",
                        "-edgefraction=0"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=clean_env({"HOME": tempfile.gettempdir(), "PPROF_TMPDIR": tempfile.gettempdir()}),
                       timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    rows = {}
    started = False
    for line in r.stdout.decode().splitlines():
        if line.strip().startswith("flat"):
            started = True
            continue
        m = re.match(r"^\s*(-?\d+)B?\s+\S+%\s+\S+%\s+(-?\d+)B?\s+\S+%\s+(.*)$", line)
        if started and m:
            name = re.sub(r" \((partial-)?inline\)$", "", m.group(3))
            if int(m.group(1)):
                rows[name] = rows.get(name, 0) + int(m.group(1))
    return rows


class GoldenRoundTripTest(unittest.TestCase):
    """`memtrace report saved.json` prints what the live text report printed."""

    def check_round_trip(self, argv, env=None, cwd=None):
        d = tempfile.mkdtemp(prefix="memtrace_rt_")
        try:
            j, t = os.path.join(d, "r.json"), os.path.join(d, "r.txt")
            r = run(argv, [j, t], env=env, cwd=cwd)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            with open(t, "rb") as f:
                live_text = f.read()
            with open(j, "rb") as f:
                raw = f.read()
            doc = json.loads(raw)  # Python's json accepts every report
            again = cli("report", j)
            self.assertEqual(again.returncode, 0, again.stderr)
            self.assertEqual(again.stdout.decode(errors="replace"), live_text.decode(errors="replace"))
            self.assertEqual(again.stdout, live_text)
            # The JSON itself survives the reader: lossless.
            same = cli("report", j, "--format", "json")
            self.assertEqual(same.stdout, raw)
            return doc, live_text
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_latin1_source_path(self):
        # A source file in a directory whose name is Latin-1, not UTF-8.
        work = tempfile.mkdtemp(prefix="memtrace_l1_").encode()
        try:
            src_dir = os.path.join(work, b"caf\xe9")
            os.mkdir(src_dir)
            src = os.path.join(src_dir, b"fixture.c")
            shutil.copy(os.path.join(HERE, "outputs_fixture.c").encode(), src)
            exe = os.path.join(work, b"fixture")
            subprocess.run([b"cc", b"-g", b"-O1", b"-fno-omit-frame-pointer", b"-fno-optimize-sibling-calls",
                            b"-I", SOURCE.encode(), src, b"-o", exe, b"-lpthread"], check=True, cwd=src_dir)
            doc, text = self.check_round_trip([exe], cwd=src_dir)
            doc = expand(doc)
            files = {f["file"] for s in doc["sites"] for f in s["frames"] if f["file"]}
            want = os.fsdecode(src)  # what Python makes of the same bytes
            self.assertIn(want, files)
            self.assertEqual(want.encode("utf-8", "surrogateescape"), src)
            with open(want, "rb") as f:  # the path in the report opens the file
                self.assertIn(b"repeated_line", f.read())
            self.assertIn(b"caf\\xe9/fixture.c", text)  # escaped for the terminal, not raw
            self.assertNotIn(b"caf\xe9", text)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_threads_pools_timeline(self):
        doc, text = self.check_round_trip([fixture("omp_reloads"), "5", "exit"], env=OMP_ENV)
        for section in (b"== Threads ==", b"OpenMP:", b"created by", b"== Timeline", b"== Tracer =="):
            self.assertIn(section, text)
        self.assertTrue(doc["openmp"]["pools_detail"])

    def test_cuda_and_mappings(self):
        _, text = self.check_round_trip([fixture("cuda_fixture")])
        self.assertIn(b"== CUDA memory ==", text)
        _, text = self.check_round_trip([fixture("mmap_fixture")])
        self.assertIn(b"live mappings:", text)
        self.assertIn(b"      file ", text)


class SitesTest(unittest.TestCase):
    def test_one_line_is_one_site_and_diff_with_itself_is_empty(self):
        d = tempfile.mkdtemp()
        try:
            j = os.path.join(d, "r.json")
            r = run([fixture("outputs_fixture")], [j])
            self.assertEqual(r.returncode, 0, r.stderr)
            truth = json.loads(r.stdout.decode().split("MEMTRACE_EXPECT ")[1])
            report = load(j)
            sites = [s for s in report["sites"] if s["frames"][0]["function"] == "repeated_line"]
            self.assertEqual(len(sites), 1)
            self.assertEqual(sites[0]["live_bytes"], truth["repeated_line"])
            self.assertEqual(sites[0]["live_blocks"], 3)
            self.assertEqual(len(sites[0]["stack_ids"]), 3)  # three call instructions, one line
            # The version is the same everywhere.
            self.assertEqual(report["version"], truth["version_api"])
            self.assertEqual(cli("--version").stdout.decode().strip(), "memtrace " + report["version"])
            # A report compared with itself: nothing changed.
            r = cli("diff", j, j)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"== 0 sites changed", r.stdout)
            r = cli("diff", j, j, "--json")
            self.assertEqual(json.loads(r.stdout)["sites"], [])
        finally:
            shutil.rmtree(d)


@unittest.skipUnless(GO, "go is not installed (scripts/install-deps.sh installs golang-go)")
class PprofTest(unittest.TestCase):
    def profile_of(self, argv, d, env=None):
        j, p = os.path.join(d, "r.json"), os.path.join(d, "r.pb.gz")
        r = run(argv, [j, p], env=env)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(p, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b")  # gzip
        return load(j), p

    def test_go_tool_pprof_agrees_with_json_per_function(self):
        for argv in ([fixture("leaky")], [fixture("outputs_fixture")], [os.environ["MEMTRACE_DEMO"], "20"],
                     [fixture("mmap_fixture")]):
            with self.subTest(argv=argv[0]):
                d = tempfile.mkdtemp()
                try:
                    report, p = self.profile_of(argv, d)
                    want = json_bytes_by_leaf(report)
                    self.assertEqual(pprof_top("-sample_index=inuse_space", p), want)
                    self.assertEqual(sum(want.values()), report["totals"]["live_bytes"])
                    # `memtrace report --format pprof` writes the same profile.
                    again = os.path.join(d, "again.pb.gz")
                    r = cli("report", os.path.join(d, "r.json"), "--format", "pprof", "--output", again)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    with open(p, "rb") as a, open(again, "rb") as b:
                        self.assertEqual(gzip.decompress(a.read()), gzip.decompress(b.read()))
                finally:
                    shutil.rmtree(d)

    def test_symbolized_offline_from_build_ids_and_addresses(self):
        d = tempfile.mkdtemp()
        try:
            report, p = self.profile_of([fixture("leaky")], d)
            # pprof throws our names away and asks addr2line, at the module
            # paths and addresses the profile gives: the same functions.
            forced = pprof_top("-sample_index=inuse_space", "-symbolize=force", p)
            strip = lambda n: re.sub(r"\(.*\)$", "", n).split("@@")[0]
            want = collections.Counter()
            for k, v in json_bytes_by_leaf(report).items():
                want[strip(k)] += v
            got = collections.Counter()
            for k, v in forced.items():
                got[strip(k)] += v
            self.assertEqual(got["leak_realloc"], 5000)
            self.assertEqual({k: v for k, v in got.items() if k.startswith("leak_")},
                             {k: v for k, v in want.items() if k.startswith("leak_")})
        finally:
            shutil.rmtree(d)

    def test_diff_profile_is_diff_base(self):
        svc = Service()
        try:
            self.assertEqual(svc.command("reload"), "ok 1")
            svc.proc.send_signal(12)
            first = svc.wait_for_reports(1)[0]
            self.assertEqual(svc.command("reload"), "ok 2")
            svc.proc.send_signal(12)
            second = svc.wait_for_reports(2)[1]
            a, b, diff = (os.path.join(svc.outdir, n) for n in ("a.pb.gz", "b.pb.gz", "diff.pb.gz"))
            for src, dst in ((first, a), (second, b)):
                self.assertEqual(cli("report", src, "--output", dst).returncode, 0)
            r = cli("diff", first, second, "--format", "pprof", "--output", diff)
            self.assertEqual(r.returncode, 0, r.stderr)
            ours = pprof_top("-sample_index=inuse_space", diff)
            theirs = pprof_top("-sample_index=inuse_space", "-diff_base", a, b)
            self.assertEqual(ours, theirs)
            self.assertEqual(ours.get("grow_cache"), 65536)
            svc.quit()
        finally:
            svc.cleanup()


class FoldedTest(unittest.TestCase):
    def test_lines_add_up_to_the_live_heap(self):
        d = tempfile.mkdtemp()
        try:
            j, f = os.path.join(d, "r.json"), os.path.join(d, "r.folded")
            r = run([fixture("outputs_fixture")], [j, f])
            self.assertEqual(r.returncode, 0, r.stderr)
            report = load(j)
            with open(f) as fh:
                lines = fh.read().splitlines()
            self.assertEqual(len(lines), len([s for s in report["sites"] if s["live_bytes"]]))
            total = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
            self.assertEqual(total, report["totals"]["spaces"]["heap"]["live_bytes"])
            self.assertEqual(total, report["totals"]["live_bytes"])
            self.assertTrue(any(l.endswith(";main;repeated_line 2331") for l in lines), lines)
            for line in lines:
                self.assertRegex(line, r"^[^\s;][^\n]* \d+$")
        finally:
            shutil.rmtree(d)


@unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/install-deps.sh installs it)")
class HtmlTest(unittest.TestCase):
    def chromium(self, *args):
        profile = tempfile.mkdtemp(prefix="memtrace_chromium_")
        try:
            return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                   "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=5000"]
                                  + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                                  env=clean_env({"HOME": profile}))
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def test_page_renders_the_top_site(self):
        d = tempfile.mkdtemp()
        try:
            j, h = os.path.join(d, "r.json"), os.path.join(d, "r.html")
            r = run([fixture("omp_reloads"), "5", "exit"], [j, h], env=OMP_ENV)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            report = load(j)
            with open(h, "rb") as f:
                page = f.read()
            # One self-contained file: nothing is fetched.
            self.assertNotRegex(page, rb"<(script|link|img)[^>]+(src|href)=")
            dom = self.chromium("--dump-dom", "file://" + h)
            self.assertEqual(dom.returncode, 0, dom.stderr[-2000:])
            html = dom.stdout.decode()
            self.assertIn('data-ready="1"', html)
            top = report["sites"][0]
            leaf = frame_name(top["frames"][0])
            nodes = re.findall(r'class="fg[^"]*" data-name="([^"]*)" data-bytes="(\d+)"', html)
            names = {n for n, _ in nodes}
            import html as htmllib
            self.assertIn(leaf, {htmllib.unescape(n) for n in names})
            root = [int(b) for n, b in nodes if n == "all live memory"]
            self.assertEqual(root, [report["totals"]["live_bytes"]])
            # The sites table starts with the top site; threads and pools are listed.
            self.assertRegex(html, r'(?s)<table id="sites">.*?<td class="num">1</td><td class="num">%d</td>'
                             % top["live_bytes"])
            self.assertIn('id="threads-section" class=""', html)
            self.assertIn('id="openmp-section" class=""', html)
            shot = os.path.join(BUILD or d, "html-report.png")
            r = self.chromium("--hide-scrollbars", "--window-size=1280,1500", "--screenshot=" + shot, "file://" + h)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertGreater(os.path.getsize(shot), 10000)
        finally:
            shutil.rmtree(d)


class BoundTest(unittest.TestCase):
    def test_many_stacks_stay_bounded_and_exact(self):
        d = tempfile.mkdtemp()
        try:
            outs = [os.path.join(d, n) for n in ("r.json", "r.txt", "r.folded")]
            r = run([fixture("many_stacks"), "12"], outs, env={"MEMTRACE_MAX_SITES": "100"})
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            truth = json.loads(r.stdout.decode().split("MEMTRACE_EXPECT ")[1])
            report = load(outs[0])
            self.assertEqual(len(report["sites"]), 100)
            leaves = [s for s in report["sites"] if s["frames"][0]["function"] == "branch"]
            omitted = report["sites_omitted"]["spaces"]
            self.assertEqual(report["sites_omitted"]["max_sites"], 100)
            heap = [o for o in omitted if o["space"] == "heap"][0]
            self.assertGreaterEqual(heap["sites"] + len(leaves), truth["stacks"])
            total = sum(s["live_bytes"] for s in report["sites"]) + sum(o["live_bytes"] for o in omitted)
            self.assertEqual(total, report["totals"]["live_bytes"])
            blocks = sum(s["live_blocks"] for s in report["sites"]) + sum(o["live_blocks"] for o in omitted)
            self.assertEqual(blocks, report["totals"]["live_blocks"])
            # Frames are interned: far fewer than sites times depth.
            self.assertLess(len(report["frames"]), 100)
            with open(outs[1]) as f:
                self.assertIn("more heap sites beyond the listing bound of 100", f.read())
            with open(outs[2]) as f:
                self.assertEqual(sum(int(l.rsplit(" ", 1)[1]) for l in f), report["totals"]["live_bytes"])
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
