"""What the run context costs a step: importing ``Run``, logging metrics, a round trip, an upload.

Run: `python bench/run_context.py` (Azurite is reused or started). One step measures, inside
itself, what AML v1 scripts do: ``Run.get_context()``, 1000 ``run.log`` calls in a loop
(buffered, sent in batches), 50 ``run.tag`` calls (one round trip each: step -> loopback
service -> Table storage), ``get_metrics`` of 1000 values, a 1 MiB ``upload_file``. The floor is
a bare ``python -c pass`` and ``import pipeline_core.core`` (what the step's import costs).
"""

from __future__ import annotations

import json
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

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

STEP = """
import json, os, time
t0 = time.perf_counter()
from pipeline_core.core import Run
t1 = time.perf_counter()
run = Run.get_context()
for i in range(1000):
    run.log("loss", 1.0 / (i + 1))
t2 = time.perf_counter()
run.flush()
t3 = time.perf_counter()
for i in range(50):
    run.tag(f"t{i}", i)
t4 = time.perf_counter()
values = run.get_metrics()["loss"]
t5 = time.perf_counter()
with open("blob.bin", "wb") as handle:
    handle.write(os.urandom(1 << 20))
run.upload_file("outputs/blob.bin", "blob.bin")
t6 = time.perf_counter()
assert len(values) == 1000
print("BENCH", json.dumps({"import": t1 - t0, "log_1000": t2 - t1, "flush": t3 - t2, "tag_each": (t4 - t3) / 50,
                           "get_metrics_1000": t5 - t4, "upload_1mib": t6 - t5}))
"""


def run_once(ws: Workspace, src: Path) -> dict[str, float]:
    step = PythonScriptStep("bench.py", name="bench", source_directory=str(src), allow_reuse=False)
    run = Experiment(ws, f"bench-{uuid.uuid4().hex[:6]}").submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False) == "Finished"
    log = run.find_step_run("bench")[0].get_job_log()
    return dict(json.loads(next(line for line in log.splitlines() if "BENCH " in line).split("BENCH ", 1)[1]))


def spawn(code: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    azurite = ensure_azurite(temporary=True)
    try:
        ws = Workspace(storage=azurite.connection_string)
        src = Path(tempfile.mkdtemp(prefix="bench-src-"))
        (src / "bench.py").write_text(STEP)
        run_once(ws, src)  # warm: tables, containers, the service
        results = [run_once(ws, src) for _ in range(3)]
        median = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(f"python -c pass:                {spawn('pass') * 1000:8.1f} ms")
        print(f"python -c 'import pipeline_core.core': {spawn('import pipeline_core.core') * 1000:8.1f} ms")
        print(f"in step: import Run            {median['import'] * 1000:8.1f} ms")
        print(f"in step: 1000 x run.log        {median['log_1000'] * 1000:8.1f} ms  (buffered)")
        print(f"in step: flush of those        {median['flush'] * 1000:8.1f} ms")
        print(f"in step: run.tag round trip    {median['tag_each'] * 1000:8.1f} ms")
        print(f"in step: get_metrics (1000)    {median['get_metrics_1000'] * 1000:8.1f} ms")
        print(f"in step: upload_file 1 MiB     {median['upload_1mib'] * 1000:8.1f} ms")
        return 0
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
