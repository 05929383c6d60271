"""What a step's declared packages cost: a step on the app's Python vs one on its own venv, cold and warm.

Run: `python bench/step_environment.py`. Three runs of the same one-step pipeline (no reuse), each
timed from submit to finished:
- plain: the step declares nothing (the app's Python);
- cold: it declares a package the app lacks, with an empty environment cache (uv builds the venv);
- warm: the same again (the cached venv is found ready).
Reported: the time each adds over plain, measured in the same process. Target: warm adds < 0.2 s
per step (one ready-file check and a different interpreter path); cold is dominated by the download.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AMLITE_QUIET", "1")
os.environ["AMLITE_CACHE_DIR"] = tempfile.mkdtemp(prefix="amlite-bench-env-")  # cold on the first use

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace  # noqa: E402
from pipeline_core.core import CondaDependencies, RunConfiguration  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

PACKAGE, MODULE = "text-unidecode==1.3", "text_unidecode"
ROUNDS = 3


def _timed(experiment: Experiment, pipeline: Pipeline) -> float:
    started = time.perf_counter()
    run = experiment.submit(pipeline, regenerate_outputs=True)
    status = run.wait_for_completion(show_output=False, raise_on_error=False)
    elapsed = time.perf_counter() - started
    if status != "Finished":
        raise SystemExit(f"run {run.id} ended {status}: {run.get_details().get('error')}")
    return elapsed


def main() -> int:
    azurite = ensure_azurite(temporary=True)
    os.environ["AMLITE_STORAGE"] = azurite.connection_string
    try:
        ws = Workspace()
        src = Path(tempfile.mkdtemp(prefix="amlite-bench-src-"))
        (src / "plain.py").write_text("print('ok')\n")
        (src / "uses.py").write_text(f"import {MODULE}\nprint({MODULE}.unidecode('ok'))\n")
        plain = Pipeline(ws, [PythonScriptStep(name="plain", script_name="plain.py", source_directory=str(src),
                                               allow_reuse=False)])
        config = RunConfiguration(conda_dependencies=CondaDependencies.create(pip_packages=[PACKAGE]))
        declared = Pipeline(ws, [PythonScriptStep(name="uses", script_name="uses.py", source_directory=str(src),
                                                  runconfig=config, allow_reuse=False)])
        experiment = Experiment(ws, "bench-step-environment")
        _timed(experiment, plain)  # warm the engine and the snapshot cache
        cold = _timed(experiment, declared)
        plains, warms = [], []
        for _ in range(ROUNDS):  # interleaved, so drift hits both alike
            plains.append(_timed(experiment, plain))
            warms.append(_timed(experiment, declared))
        base, warm = sorted(plains)[ROUNDS // 2], sorted(warms)[ROUNDS // 2]
        print(f"plain step (app's Python), median of {ROUNDS}: {base:6.2f} s")
        print(f"declared package, cold cache (uv builds):      {cold:6.2f} s  (+{cold - base:.2f} s)")
        print(f"declared package, warm cache, median of {ROUNDS}: {warm:6.2f} s  (+{warm - base:.2f} s; target < 0.2 s)")
        return 0
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
