"""Live reports for services that never exit: SIGUSR2 dumps, growth between
two of them named exactly by `memtrace diff`, the program's own handler still
called, a signal storm, interval snapshots with MEMTRACE_KEEP that survive
SIGKILL, and phase marks on the timeline."""
import glob
import json
import os
import signal
import subprocess
import time
import unittest

from mtharness import CLI, Service, load


class SignalDumpTest(unittest.TestCase):
    def test_two_dumps_one_reload_apart_and_diff(self):
        svc = Service()
        try:
            self.assertEqual(svc.command("reload"), "ok 1")
            svc.proc.send_signal(signal.SIGUSR2)
            first = svc.wait_for_reports(1)[0]
            self.assertEqual(svc.command("reload"), "ok 2")
            svc.proc.send_signal(signal.SIGUSR2)
            second = svc.wait_for_reports(2)[1]
            a, b = load(first), load(second)
            self.assertEqual((a["reason"], a["sequence"]), ("signal", 1))
            self.assertEqual((b["reason"], b["sequence"]), ("signal", 2))
            # Growth fields in the report itself.
            grow = [s for s in b["sites"] if s["frames"][0]["function"] == "grow_cache"]
            self.assertEqual(len(grow), 1)
            self.assertEqual(grow[0]["growth_bytes"], 65536)
            self.assertEqual(grow[0]["growth_blocks"], 4)
            self.assertEqual(grow[0]["live_bytes"], 2 * 65536)
            # memtrace diff names exactly that site and that amount.
            out = subprocess.run([CLI, "diff", first, second, "--json"], stdout=subprocess.PIPE, check=True).stdout
            diff = json.loads(out)
            self.assertEqual(len(diff["sites"]), 1, diff["sites"])
            self.assertEqual(diff["sites"][0]["growth_bytes"], 65536)
            self.assertEqual(diff["sites"][0]["functions"][0], "grow_cache")
            text = subprocess.run([CLI, "diff", first, second], stdout=subprocess.PIPE, check=True).stdout.decode()
            self.assertIn("#1  +65536 bytes (+4 blocks) [heap]", text)
            self.assertIn("at grow_cache (", text)
            code, _, err = svc.quit()
            self.assertEqual(code, 0, err)
        finally:
            svc.cleanup()

    def check_own_handler(self, how):
        """Once the program installs its own handler the signal is the
        program's: a plain kill runs its handler only; `memtrace dump` (the
        control file, or a signal queued with our cookie) still gets a report
        without running the program's handler."""
        svc = Service([how])
        try:
            self.assertEqual(svc.command("handled"), "handled 0")
            svc.proc.send_signal(signal.SIGUSR2)
            deadline = time.time() + 5
            while svc.command("handled") != "handled 1" and time.time() < deadline:
                time.sleep(0.02)
            self.assertEqual(svc.command("handled"), "handled 1")
            time.sleep(0.3)
            self.assertEqual(svc.reports(), [])  # the program's signal, not a report request
            r = subprocess.run([CLI, "dump", str(svc.proc.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([CLI, "dump", str(svc.proc.pid), "--signal"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(svc.wait_for_reports(2)), 2)
            self.assertEqual(svc.command("handled"), "handled 1")  # the queued request was ours alone
            code, _, err = svc.quit()
            self.assertEqual(code, 0)
            self.assertIn(b"handles signal 12 itself", err)
        finally:
            svc.cleanup()

    def test_program_handler_installed_with_sigaction_owns_the_signal(self):
        self.check_own_handler("--sigaction")

    def test_program_handler_installed_with_signal_owns_the_signal(self):
        self.check_own_handler("--signal")

    def test_signal_storm(self):
        svc = Service(env={"MEMTRACE_KEEP": "1000"})
        try:
            self.assertEqual(svc.command("churn 2"), "ok 2")
            for _ in range(300):
                svc.proc.send_signal(signal.SIGUSR2)
            time.sleep(0.5)
            svc.proc.send_signal(signal.SIGUSR2)
            svc.wait_for_reports(1)
            time.sleep(0.5)
            code, out, err = svc.quit()
            self.assertEqual(code, 0, err)
            reports = svc.reports()
            # Bursts coalesce: far fewer reports than signals, at least one.
            self.assertGreaterEqual(len(reports), 2)  # some signal reports + the exit report
            self.assertLess(len(reports), 300)
            for path in reports:
                doc = load(path)  # every one complete, valid JSON
                self.assertEqual(doc["schema"], "memtrace/2")
            self.assertEqual(load(reports[-1])["reason"], "exit")
            self.assertEqual(glob.glob(os.path.join(svc.outdir, "*.tmp.*")), [])
        finally:
            svc.cleanup()


class IntervalTest(unittest.TestCase):
    def test_rate_keep_and_sigkill(self):
        svc = Service(env={"MEMTRACE_INTERVAL": "100ms", "MEMTRACE_KEEP": "3", "MEMTRACE_SIGNAL": "none"})
        try:
            svc.command("reload")
            time.sleep(1.2)
            names = [os.path.basename(p) for p in svc.reports()]
            self.assertLessEqual(len(names), 3, names)
            seqs = sorted(int(n.split(".")[1]) for n in names)
            self.assertGreaterEqual(seqs[-1], 5, names)  # ~10 intervals in 1.2 s, allowing a slow machine
            self.assertEqual(seqs, list(range(seqs[-1] - len(seqs) + 1, seqs[-1] + 1)))
            svc.proc.kill()  # SIGKILL: no destructor; the watcher writes the last report
            svc.proc.wait()
            deadline = time.time() + 30
            while time.time() < deadline:
                final = [p for p in svc.reports() if load(p)["reason"] == "exit"]
                if final:
                    break
                time.sleep(0.05)
            self.assertEqual(len(final), 1, svc.reports())
            self.assertEqual(final[0], svc.reports()[-1])  # numbered after every interval report
            self.assertLessEqual(len(svc.reports()), 3)    # rotation counts it too
            for path in svc.reports():
                doc = load(path)
                self.assertEqual(doc["reason"], "exit" if path == final[0] else "interval")
                if path == final[0]:
                    self.assertEqual(doc["end"]["how"], "killed")
                grow = [s for s in doc["sites"] if s["frames"][0]["function"] == "grow_cache"]
                self.assertEqual(grow[0]["live_bytes"], 65536)
                self.assertGreater(len(doc["timeline"]), 0)
        finally:
            svc.cleanup()

    def test_without_sequence_the_file_holds_the_latest(self):
        import tempfile
        d = tempfile.mkdtemp()
        svc = Service(env={"MEMTRACE_INTERVAL": "50ms", "MEMTRACE_OUTPUT": os.path.join(d, "latest.json")})
        try:
            svc.command("reload")
            time.sleep(0.4)
            self.assertEqual(os.listdir(d), ["latest.json"])
            self.assertGreaterEqual(load(os.path.join(d, "latest.json"))["sequence"], 2)
            svc.quit()
            self.assertEqual(load(os.path.join(d, "latest.json"))["reason"], "exit")
        finally:
            svc.cleanup()
            import shutil
            shutil.rmtree(d)


class TimelineTest(unittest.TestCase):
    def test_marks_and_glibc_view(self):
        svc = Service(env={"MEMTRACE_SAMPLE_PERIOD": "50ms"})
        try:
            for i in range(3):
                svc.command("reload")
                self.assertEqual(svc.command(f"mark reload {i + 1}"), "ok 0")
            time.sleep(0.2)
            svc.quit()
            doc = load(svc.reports()[-1])
            marks = [p for p in doc["timeline"] if p["mark"]]
            self.assertEqual([p["mark"] for p in marks], ["reload 1", "reload 2", "reload 3"])
            # At each mark the tracked heap includes exactly the cache so far.
            heap = [p["heap_bytes"] for p in marks]
            self.assertEqual(heap[1] - heap[0], 65536)
            self.assertEqual(heap[2] - heap[1], 65536)
            for p in doc["timeline"]:
                self.assertGreater(p["rss_bytes"], 0)
            # glibc's own view is measured by the program's thread that asks
            # (marks, the exit report); periodic samples leave it unknown.
            for p in marks + [doc["timeline"][-1]]:
                self.assertGreaterEqual(p["glibc_arenas"], 1)
            self.assertTrue(any(p.get("glibc_arenas") is None for p in doc["timeline"]))
            self.assertGreater(len(doc["timeline"]), len(marks))  # periodic samples too
        finally:
            svc.cleanup()


if __name__ == "__main__":
    unittest.main()
