"""``Run.get_context()`` inside steps, through the host's run context service (the step holds no secret).

What a step logs, tags, uploads and registers shows up where AML shows it:
``StepRun.get_metrics()``, ``PipelineRun.get_metrics(recursive=True)``, ``amlite show``, the run's
files; a step reaches only its own run, and only while it runs; hostile names are refused.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from pipeline_core import Pipeline, PipelineData, PythonScriptStep, Workspace
from pipeline_core.core import Model, Run
from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import RunEnvironmentException
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.runcontext.server import (
    TOKEN_VARIABLE,
    URL_VARIABLE,
    run_context_environment,
    shared_service,
)

pytestmark = pytest.mark.integration

#: What AML v1 training scripts do, after the import rewrite alone.
TRAIN = """
import json, os, sys
from pipeline_core.core import Run

run = Run.get_context()
for loss in (0.5, 0.4, 0.3):
    run.log("loss", loss)
run.log("rmse", 0.3, description="root mean squared error")
run.log("converged", True)
run.log_list("folds", [0.9, 0.8, 0.85])
run.log_row("curve", x=1, y=0.5)
run.log_row("curve", x=2, y=0.25)
run.log_table("confusion", {"label": ["a", "b"], "count": [3, 4]})
run.log("nan_metric", float("nan"))
with open("plot.png", "wb") as handle:
    handle.write(b"\\x89PNG fake")

class Figure:  # what log_image needs of a matplotlib figure
    def savefig(self, target, format):
        target.write(b"\\x89PNG drawn " + format.encode())

run.log_image("from_file", path="plot.png")
run.log_image("from_plot", plot=Figure())
run.tag("stage", "train")
run.set_tags({"team": "ml", "flag": None})
run.add_properties({"algorithm": "ridge"})
run.parent.log("best_rmse", 0.3)
run.parent.tag("winner", run.id)

os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "w") as handle:
    handle.write("MODEL-BYTES")
run.upload_file(name="outputs/model.pkl", path_or_stream="outputs/model.pkl")
model = run.register_model(model_name=sys.argv[1], model_path="outputs/model.pkl", tags={"area": "test"})
with open("notes.txt", "w") as handle:
    handle.write("notes")
later = run.register_model(model_name=sys.argv[1], model_path="notes.txt")  # not uploaded yet: sent first

refused = []
for hostile in ("../../x", "/etc/passwd", "a/../../b", "..\\\\x"):
    try:
        run.upload_file(hostile, "outputs/model.pkl")
    except Exception as exc:
        refused.append(type(exc).__name__)

print("CONTEXT", json.dumps({
    "id": run.id, "parent": run.parent.id, "experiment": run.experiment.name, "type": run.type,
    "model": model.id, "later": later.id, "refused": refused,
    "inputs": sorted(run.input_datasets), "outputs": sorted(run.output_datasets),
    "tags": run.get_tags(), "properties": run.get_properties(),
    "metrics": {k: v for k, v in run.get_metrics().items() if k not in ("nan_metric", "from_file", "from_plot")},
    "files": run.get_file_names(),
}))
"""

#: Leaks its own token to the next step (through its output), as a hostile or careless step might.
LEAK = """
import os, pathlib, sys
pathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
pathlib.Path(sys.argv[1], "token.txt").write_text(os.environ["AMLITE_RUN_TOKEN"])
pathlib.Path(sys.argv[1], "run_id.txt").write_text(os.environ["AZUREML_RUN_ID"])
"""

#: Tries the leaked token, and its own token on the other step's run, with plain HTTP.
PROBE = """
import json, os, pathlib, sys, urllib.error, urllib.parse, urllib.request
base = os.environ["AMLITE_RUN_CONTEXT_URL"]
own = os.environ["AMLITE_RUN_TOKEN"]
leaked = pathlib.Path(sys.argv[1], "token.txt").read_text()
other = pathlib.Path(sys.argv[1], "run_id.txt").read_text()
mine = os.environ["AZUREML_RUN_ID"]

def call(method, path, token, data=None, headers=None):
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + token, **(headers or {})})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code

quoted = urllib.parse.quote(other, safe="")
print("PROBE", json.dumps({
    "leaked": call("GET", f"/v1/runs/{quoted}/metrics", leaked),
    "other_run": call("GET", f"/v1/runs/{quoted}/metrics", own),
    "no_token": call("GET", f"/v1/runs/{urllib.parse.quote(mine, safe='')}", ""),
    "own": call("GET", f"/v1/runs/{urllib.parse.quote(mine, safe='')}/metrics", own),
    "hostile_name": call("PUT", f"/v1/runs/{urllib.parse.quote(mine, safe='')}/files?name=..%2F..%2Fx", own, b"x"),
    "bad_json": call("POST", f"/v1/runs/{urllib.parse.quote(mine, safe='')}/metrics", own, b"{nope"),
    "bad_metric": call("POST", f"/v1/runs/{urllib.parse.quote(mine, safe='')}/metrics", own,
                       json.dumps({"metrics": [{"name": "x", "kind": "scalar", "value": 1, "seq": "../x"}]}).encode()),
    "bad_version": call("GET", "/v1/models?name=m&version=latest", own),
    "bad_tags": call("POST", f"/v1/runs/{urllib.parse.quote(mine, safe='')}/models", own,
                     json.dumps({"model_name": "m", "model_path": "x", "tags": ["a"]}).encode()),
    "no_route": call("GET", "/v1/secrets", own),
}))
"""


def _context_line(log: str, marker: str) -> dict:  # type: ignore[type-arg]
    line = next((ln for ln in log.splitlines() if f"{marker} " in ln), None)
    assert line is not None, log
    return json.loads(line.split(f"{marker} ", 1)[1])


def _secrets(env: dict[str, str]) -> list[str]:
    return [name for name, value in env.items() if name.startswith(("AMLITE_STORAGE", "AzureWebJobsStorage"))
            or "AccountKey=" in value or "SharedAccessSignature=" in value]


@pytest.fixture(scope="module")
def finished_noop(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """One finished one-step run, for the tests that only need its rows."""
    ws = Workspace(storage=azurite)
    src = tmp_path_factory.mktemp("noop")
    (src / "noop.py").write_text("pass\n")
    step = PythonScriptStep("noop.py", name="noop", source_directory=str(src), allow_reuse=False)
    run = Pipeline(ws, [step]).submit(f"test-{uuid.uuid4().hex[:10]}")
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    return run


def test_a_step_logs_tags_uploads_and_registers_through_its_run_context(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (source_dir / "train.py").write_text(TRAIN)
    model_name = f"rc-{uuid.uuid4().hex[:8]}"
    step = PythonScriptStep("train.py", name="train", source_directory=str(source_dir), allow_reuse=False,
                            arguments=[model_name])
    run = Pipeline(workspace, [step]).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False) == "Finished", \
        run.find_step_run("train")[0].get_job_log()
    step_run = run.find_step_run("train")[0]
    seen = _context_line(step_run.get_job_log(), "CONTEXT")

    expected = {"loss": [0.5, 0.4, 0.3], "rmse": 0.3, "converged": True, "folds": [0.9, 0.8, 0.85],
                "curve": {"x": [1, 2], "y": [0.5, 0.25]}, "confusion": {"label": ["a", "b"], "count": [3, 4]}}
    assert seen["metrics"] == expected  # read back inside the step
    assert (seen["id"], seen["parent"], seen["experiment"], seen["type"]) == (
        step_run.id, run.id, experiment_name, "azureml.StepRun")
    assert seen["refused"] == ["AmliteError"] * 4
    assert seen["tags"] == {"stage": "train", "team": "ml", "flag": ""}
    assert seen["properties"] == {"algorithm": "ridge"}
    assert (seen["model"], seen["later"]) == (f"{model_name}:1", f"{model_name}:2")
    assert [f for f in seen["files"] if not f.startswith("images/")] == ["notes.txt", "outputs/model.pkl"]

    # The driver's view: AML's get_metrics shapes, the step's own and the run's (recursive).
    metrics = step_run.get_metrics()
    images = {name: metrics.pop(name) for name in ("from_file", "from_plot")}
    assert {k: v for k, v in metrics.items() if k != "nan_metric"} == expected
    assert metrics["nan_metric"] != metrics["nan_metric"]  # NaN survives the round trip
    assert step_run.get_metrics(name="rmse") == {"rmse": 0.3}
    assert run.get_metrics() == {"best_rmse": 0.3}
    everything = run.get_metrics(recursive=True)
    assert set(everything) == {run.id, step_run.id} and everything[run.id] == {"best_rmse": 0.3}
    again = PipelineRun(run.experiment, run.id)  # a fresh handle reads the same
    assert again.find_step_run("train")[0].get_metrics(name="loss") == {"loss": [0.5, 0.4, 0.3]}
    assert Run.get(workspace, step_run.id).get_metrics()["rmse"] == 0.3
    assert step_run.get_tags()["stage"] == "train" and step_run.get_properties() == {"algorithm": "ridge"}
    assert run.get_tags()["winner"] == step_run.id
    step_run.log("reviewed_score", 7)  # the driver may record on a finished step run too, as in AML
    step_run.tag("reviewed", "yes")
    assert step_run.get_metrics()["reviewed_score"] == 7 and step_run.get_tags()["reviewed"] == "yes"

    # Files: listed and downloaded (names checked on the way down too); images are files too.
    prefix = f"aml://artifactId/ExperimentRun/dcid.{step_run.id}/"
    image_files = sorted(value[len(prefix):] for value in images.values())
    assert all(value.startswith(prefix + "images/") for value in images.values()), images
    assert step_run.get_file_names() == sorted(["notes.txt", "outputs/model.pkl", *image_files])
    step_run.download_file(image_files[1], str(tmp_path / "drawn.png"))
    assert (tmp_path / "drawn.png").read_bytes() == b"\x89PNG drawn png"
    step_run.download_file("outputs/model.pkl", str(tmp_path))
    assert (tmp_path / "model.pkl").read_text() == "MODEL-BYTES"
    step_run.download_files(prefix="outputs", output_directory=str(tmp_path / "all"))
    assert (tmp_path / "all" / "outputs" / "model.pkl").read_text() == "MODEL-BYTES"

    # The registered model came from the step's files.
    model = Model(workspace, model_name, version=1)
    assert (model.run_id, model.tags, model.experiment_name) == (step_run.id, {"area": "test"}, experiment_name)
    assert Path(Model.get_model_path(model_name, version=1, _workspace=workspace)).read_text() == "MODEL-BYTES"

    # `amlite show` prints each step's metrics on one line.
    from rich.console import Console

    from amlite_cli import commands as cli

    monkeypatch.setenv("AMLITE_STORAGE", workspace.storage)
    monkeypatch.delenv("AMLITE_ENDPOINT", raising=False)
    monkeypatch.chdir(tmp_path)
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, width=240))
    assert cli.main(["show", run.id]) == 0
    shown = screen.getvalue()
    assert "train: " in shown and "loss=[3 values, last 0.3]" in shown and "rmse=0.3" in shown, shown
    assert "(run): best_rmse=0.3" in shown


def test_a_step_reaches_only_its_own_run_and_only_while_it_runs(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    (source_dir / "leak.py").write_text(LEAK)
    (source_dir / "probe.py").write_text(PROBE)
    leaked = PipelineData("leaked", datastore=workspace.get_default_datastore())
    first = PythonScriptStep("leak.py", name="leak", source_directory=str(source_dir), outputs=[leaked],
                             arguments=[leaked], allow_reuse=False)
    second = PythonScriptStep("probe.py", name="probe", source_directory=str(source_dir), inputs=[leaked],
                              arguments=[leaked], allow_reuse=False)
    run = Pipeline(workspace, [first, second]).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False) == "Finished"
    probe = _context_line(run.find_step_run("probe")[0].get_job_log(), "PROBE")
    assert probe == {"leaked": 401,  # the first step's token died with its attempt
                     "other_run": 403,  # its own token does not cover another step's run
                     "no_token": 401, "own": 200,
                     "hostile_name": 400,  # the service checks names itself; it never trusts the client
                     "bad_json": 400, "bad_metric": 400, "bad_version": 400, "bad_tags": 400, "no_route": 404}


def test_a_token_for_a_step_that_ended_is_refused(finished_noop: PipelineRun) -> None:
    """A grant the host forgot to revoke (a ParallelRunStep pool on another instance) ends with its step."""
    run = finished_noop
    env = run_context_environment(run._services, run.id, "noop")
    answer = requests.get(f"{env[URL_VARIABLE]}/v1/runs/{run.id}_noop",
                          headers={"Authorization": f"Bearer {env[TOKEN_VARIABLE]}"}, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "StepEnded"
    again = requests.get(f"{env[URL_VARIABLE]}/v1/runs/{run.id}_noop",
                         headers={"Authorization": f"Bearer {env[TOKEN_VARIABLE]}"}, timeout=10)
    assert again.status_code == 401  # and it is forgotten
    assert shared_service().url.startswith("http://127.0.0.1:")


def test_the_step_environment_holds_no_storage_secret(finished_noop: PipelineRun) -> None:
    """The run context needs none: a step reaches its run through the loopback service and its token."""
    from pipeline_core.engine.step_context import StepContext
    from pipeline_core.runcontext.server import end_run_context

    env = StepContext(finished_noop._services, finished_noop.id, "noop").environment({})
    end_run_context(env)
    assert env[URL_VARIABLE].startswith("http://127.0.0.1:") and len(env[TOKEN_VARIABLE]) >= 40
    assert _secrets(env) == []


def test_outside_a_run_the_context_is_offline_and_never_fails(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    run = Run.get_context()
    assert run.id.startswith("OfflineRun") and run.parent is None
    run.log("accuracy", 0.91)
    run.log("accuracy", 0.93)
    run.log_row("curve", x=1, y=2)
    run.log_image("plot", path="/nonexistent.png")
    run.tag("stage", "dev")
    run.upload_file("outputs/x.txt", "/nonexistent")
    assert run.register_model("m", model_path="outputs/x.txt") is None
    run.complete()
    assert run.get_metrics() == {"accuracy": [0.91, 0.93], "curve": {"x": 1, "y": 2}}
    printed = capsys.readouterr().out
    assert "Attempted to log scalar metric accuracy:\n0.91" in printed and "Attempted to track file" in printed
    with pytest.raises(RunEnvironmentException):
        Run.get_context(allow_offline=False)


def test_bad_metric_values_are_refused_in_the_step_not_lost_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks happen at the call (the step sees the error), not in the background flush."""
    from pipeline_core.runcontext import client
    from pipeline_core.runcontext.client import ChannelBackend, RunContextClient

    monkeypatch.setattr(client, "_RETRIES", (0.01, 0.02))
    backend = ChannelBackend(RunContextClient("http://127.0.0.1:9", "t"))
    run = Run(None, "r_step", _backend=backend)  # type: ignore[arg-type]
    with pytest.raises(AmliteError, match="metric name"):
        run.log("", 1)
    with pytest.raises(AmliteError, match="every column"):
        run.log_table("t", {"a": [1, 2], "b": [1]})
    with pytest.raises(AmliteError, match="at most"):
        run.log_list("big", ["x" * 1000] * 1000)
    with pytest.raises(AmliteError, match="is refused"):
        run.upload_file("../x", io.BytesIO(b"x"))
    assert backend._pending == []
    started = time.monotonic()
    with pytest.raises(AmliteError, match="could not reach"):
        backend.client.call("GET", "/runs/r_step")
    assert time.monotonic() - started < 2
