"""Per-step overhead of a 10-step chain of no-op script steps, against the floor of spawning `python -c pass`.

Run: `python bench/step_overhead.py` (Azurite is reused or started). The floor
and the chain are measured in the same run, so the ratio holds on any machine.
Target: at most 3x the floor per step, with state and logs recorded.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("AMLITE_QUIET", "1")
os.environ.setdefault("AMLITE_CACHE_DIR", tempfile.mkdtemp(prefix="amlite-bench-"))

from pipeline_core import Experiment, Pipeline, PythonScriptStep, StepSequence, Workspace  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

STEPS = 10


def floor_seconds(repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain_seconds(ws: Workspace, src: Path) -> tuple[float, float]:
    steps = [PythonScriptStep("noop.py", name=f"s{i}", source_directory=str(src), allow_reuse=False)
             for i in range(STEPS)]
    pipeline = Pipeline(ws, StepSequence(steps=steps))
    experiment = Experiment(ws, f"bench-{uuid.uuid4().hex[:6]}")
    start = time.perf_counter()
    run = experiment.submit(pipeline)
    run.wait_for_completion(show_output=False)
    total = time.perf_counter() - start
    rows = run._services.runs.get_state(run.id).steps
    assert all(r["status"] == "Finished" for r in rows.values()), [r["status"] for r in rows.values()]
    return total, total / STEPS


def main() -> int:
    azurite = ensure_azurite(temporary=True)  # reused if one answers; else in memory, like the test suite's
    try:
        ws = Workspace(storage=azurite.connection_string)
        src = Path(tempfile.mkdtemp(prefix="bench-src-"))
        (src / "noop.py").write_text("pass\n")
        chain_seconds(ws, src)  # warm: containers, tables, snapshot upload, imports
        floor = floor_seconds()
        results = [chain_seconds(ws, src) for _ in range(3)]
        per_step = statistics.median(r[1] for r in results)
        total = statistics.median(r[0] for r in results)
        ratio = per_step / floor
        print(f"floor (python -c pass):      {floor * 1000:7.1f} ms")
        print(f"10-step chain, wall:         {total * 1000:7.1f} ms")
        print(f"per step (state+logs):       {per_step * 1000:7.1f} ms")
        print(f"ratio to floor:              {ratio:7.2f}x   (target <= 3.0x)")
        return 0
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
