"""CUDA memory through the runtime API hooks, with a stand-in runtime (no GPU
needed): exact bytes per site, space and device, per-device totals, async
frees, a second device and thread; and the report says which CUDA layers were
active and why not. The real-GPU checks are in tests/gpu/."""
import unittest

from mtharness import fixture, run_traced


class CudaRuntimeHooksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = run_traced([fixture("cuda_fixture")])

    def test_exact_per_site_space_device(self):
        r = self.result
        self.assertEqual(r.returncode, 0, r.stderr)
        report = r.report
        got = {}
        for s in report["sites"]:
            if s["space"].startswith("cuda_"):
                key = (s["frames"][0]["function"], s["space"], -1 if s["device"] is None else s["device"])
                got[key] = got.get(key, 0) + s["live_bytes"]
        want = {}
        for e in r.expectations("cuda"):
            key = (e["function"], e["space"], e["device"])
            want[key] = want.get(key, 0) + e["live_bytes"]
        self.assertEqual(got, want)

    def test_devices_and_totals(self):
        report = self.result.report
        truth = self.result.expectations("devices")[0]
        devices = {d["ordinal"]: d["live_bytes"] for d in report["devices"]}
        self.assertEqual(devices, {0: truth["device0"], 1: truth["device1"]})
        spaces = report["totals"]["spaces"]
        self.assertEqual(spaces["cuda_device"]["live_bytes"], truth["device0"] + truth["device1"])
        self.assertEqual(spaces["cuda_host_pinned"]["live_bytes"], 6000)
        self.assertEqual(spaces["cuda_managed"]["live_bytes"], 8192)
        self.assertEqual(spaces["cuda_device"]["frees"], 3)  # cudaFree, cudaFreeAsync, the thread's cudaFree
        self.assertEqual(spaces["cuda_host_pinned"]["frees"], 1)  # cudaFreeHost
        # The stand-in runtime's memory is not heap or mappings.
        self.assertEqual(spaces["anon_mmap"]["live_bytes"], 0)
        self.assertEqual(report["totals"]["unmatched_frees"], 0)

    def test_layers_reported(self):
        cuda = self.result.report["cuda"]
        self.assertTrue(cuda["runtime_hooks"])
        self.assertFalse(cuda["cupti"])
        self.assertTrue(cuda["reason"])  # why not: no driver here, or no toolkit at build time

    def test_text_report_has_device_section(self):
        r = run_traced([fixture("cuda_fixture")], env={"MEMTRACE_OUTPUT": ""})
        text = r.stderr.decode()
        self.assertIn("== CUDA memory ==", text)
        self.assertIn("device 1: 4.0 MiB live in 2 blocks", text)

    def test_program_without_cuda(self):
        cuda = run_traced([fixture("leaky")]).report["cuda"]
        self.assertFalse(cuda["runtime_hooks"])
        self.assertFalse(cuda["cupti"])

    def test_disabled(self):
        r = run_traced([fixture("cuda_fixture")], env={"MEMTRACE_CUDA": "0"})
        self.assertEqual(r.returncode, 0)
        self.assertIn("MEMTRACE_CUDA=0", r.report["cuda"]["reason"])


if __name__ == "__main__":
    unittest.main()
