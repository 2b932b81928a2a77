"""The bundled demo: the report blames model_create_from_file for exactly the
models that reload_model forgot to free (every 4th of 20 reloads)."""
import unittest

from mtharness import DEMO, run_traced


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


if __name__ == "__main__":
    unittest.main()
