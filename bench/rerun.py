"""A rerun of an unchanged pipeline reuses every step: its wall time against the first run's.

Run: `python bench/rerun.py`. Uses the starter example (preprocess -> train with scikit-learn);
the first run is forced (`regenerate_outputs=True`) so it always does the work. Target: the
rerun takes less than 15% of the first run's wall time.
"""

from __future__ import annotations

import os
import runpy
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AMLITE_QUIET", "1")
os.environ.setdefault("AMLITE_CACHE_DIR", tempfile.mkdtemp(prefix="amlite-bench-"))
ROOT = Path(__file__).resolve().parents[1]

from pipeline_core import Experiment  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402


def main() -> int:
    azurite = ensure_azurite(temporary=True)
    os.environ["AMLITE_STORAGE"] = azurite.connection_string
    try:
        driver = runpy.run_path(str(ROOT / "examples" / "starter" / "driver.py"), run_name="__amlite__")
        pipeline, ws = driver["pipeline"], driver["ws"]
        experiment = Experiment(ws, "bench-rerun")
        started = time.perf_counter()
        first = experiment.submit(pipeline, regenerate_outputs=True)
        first.wait_for_completion(show_output=False)
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        second = experiment.submit(pipeline)
        second.wait_for_completion(show_output=False)
        rerun_seconds = time.perf_counter() - started
        reused = [s.name for s in second.get_steps() if s.is_reused]
        print(f"first run (both steps run):  {first_seconds:6.2f} s")
        print(f"rerun (reused: {', '.join(sorted(reused))}): {rerun_seconds:6.2f} s")
        print(f"ratio: {100 * rerun_seconds / first_seconds:.1f}% of the first run   (target < 15%)")
        return 0
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
