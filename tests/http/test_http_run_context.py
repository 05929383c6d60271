"""Metrics a step logs with ``Run.get_context()``, read over REST from a dev host on real sockets.

The step runs inside the host process (as it runs inside the Functions worker on Azure), so its run
context service is the host's; ``?metrics=true`` puts the metrics on the ``StepRun`` and
``PipelineRun`` entities, and a remote workspace's ``get_metrics()`` maps them back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace
from pipeline_core.client.runs import RestRunSource

pytestmark = pytest.mark.integration

LOGGING_STEP = """
from pipeline_core.core import Run
run = Run.get_context()
for loss in (0.5, 0.25):
    run.log("loss", loss)
run.log("accuracy", 0.9)
run.log("diverged", float("nan"))
run.log_row("curve", x=1, y=2)
run.parent.log("best_accuracy", 0.9)
"""


def test_step_metrics_over_rest_and_the_remote_sdk(http_base: str, azurite: str, source_dir: Path,
                                                   experiment_name: str) -> None:
    ws = Workspace(endpoint=http_base, storage=azurite)
    (source_dir / "log.py").write_text(LOGGING_STEP)
    step = PythonScriptStep("log.py", name="train", source_directory=str(source_dir), allow_reuse=False)
    run = Experiment(ws, experiment_name).submit(Pipeline(ws, [step]))
    assert isinstance(run._source, RestRunSource)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"

    expected = {"loss": [0.5, 0.25], "accuracy": 0.9, "diverged": "NaN", "curve": {"x": 1, "y": 2}}
    steps = requests.get(f"{http_base}/api/runs/{run.id}/steps", params={"metrics": "true"}, timeout=10).json()
    assert steps["Value"][0]["Metrics"] == expected  # strict JSON: NaN as a string
    whole = requests.get(f"{http_base}/api/runs/{run.id}", params={"steps": "true", "metrics": "true"},
                         timeout=10).json()
    assert whole["Metrics"] == {"best_accuracy": 0.9} and whole["Steps"][0]["Metrics"] == expected
    plain = requests.get(f"{http_base}/api/runs/{run.id}", params={"steps": "true"}, timeout=10).json()
    assert "Metrics" not in plain and "Metrics" not in plain["Steps"][0]  # followers' polls stay cheap

    (train,) = run.find_step_run("train")
    assert train.get_metrics() == expected
    assert run.get_metrics() == {"best_accuracy": 0.9}
    assert run.get_metrics(recursive=True) == {run.id: {"best_accuracy": 0.9}, train.id: expected}
