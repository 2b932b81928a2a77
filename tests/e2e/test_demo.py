"""The bundled demo: the report blames model_create_from_file for exactly the
models that reload_model forgot to free (every 4th of 20 reloads)."""
import unittest

from mtharness import DEMO, LIB, run_plain, run_traced


class DemoTest(unittest.TestCase):
    def test_points_at_the_forgotten_handles(self):
        run = run_traced([DEMO, "20"])
        self.assertEqual(run.returncode, 0)
        top = run.report["sites"][0]
        functions = [f["function"] for f in top["frames"]]
        self.assertIn("model_create_from_file", functions)
        self.assertIn("reload_model(void*, int)", functions)
        leaked_models = 20 // 4
        self.assertEqual(top["live_blocks"], leaked_models)
        self.assertEqual(top["live_bytes"], leaked_models * 16384 * 4)  # 16384 float weights each

    def test_first_screen_names_the_demos_lines(self):
        """The text report's leak summary (its first screen) names the demo's
        own source line for every lost site, not std::vector's plumbing."""
        run = run_plain([DEMO, "20"], env={"LD_PRELOAD": LIB})
        self.assertEqual(run.returncode, 0)
        text = run.stderr.decode(errors="replace")
        leak_section = text.split("== Leaks (reachability scan) ==", 1)[1].split("== Totals ==", 1)[0]
        lines = [l for l in leak_section.splitlines() if " bytes in " in l and " at " in l]
        self.assertEqual(len(lines), 4, leak_section)  # the model struct, its weights, labels and name
        for line in lines:
            where = line.split(" at ", 1)[1]
            self.assertRegex(where, r"^model_create_from_file \(.*demo/inference_service\.cc:\d+\)  <- reload_model", line)
        self.assertIn("library frames)", leak_section)  # the skipped std:: frames are counted


if __name__ == "__main__":
    unittest.main()
