"""A published pipeline with a DatabricksStep, submitted and canceled over HTTP on the repo's Functions app.

The app connects with its own settings (``AMLITE_DATABRICKS_HOST_<COMPUTE>`` and the token
beside it), never with anything in the spec; its credential goes only to the host those
settings name. The Jobs API server on a real socket plays the Databricks workspace.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from http_support import get_run, on_host, wait_status
from support.databricks_jobs import Behaviour, JobsServer

from pipeline_core import (
    Pipeline,
    PipelineData,
    PipelineParameter,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.pipeline.steps import DatabricksStep

SCRIPT = "dbfs:/jobs/score.py"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JobsServer]:
    monkeypatch.setenv("AMLITE_DATABRICKS_POLL_FIRST_SECONDS", "0.2")
    monkeypatch.setenv("AMLITE_DATABRICKS_POLL_MAX_SECONDS", "0.5")
    with JobsServer(token="dapi-app-token", realtime=True) as running:
        monkeypatch.setenv("AMLITE_DATABRICKS_HOST_DBX_APP", running.url)
        monkeypatch.setenv("AMLITE_DATABRICKS_TOKEN_DBX_APP", running.api.token)
        yield running


def _publish(ws: Workspace, compute: object = "dbx-app") -> PublishedPipeline:
    src = Path(tempfile.mkdtemp(prefix="amlite-dbx-src-"))
    (src / "write.py").write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)\n"
                                  "pathlib.Path(sys.argv[1], 'x.txt').write_text('x')\n")
    raw = PipelineData("raw")
    write = PythonScriptStep("write.py", name="write", arguments=[raw], outputs=[raw], source_directory=str(src))
    score = DatabricksStep("score", inputs=[raw], python_script_path=SCRIPT, compute_target=compute,
                           python_script_params=["--day", PipelineParameter("day", default_value="mon")],
                           spark_version="15.4.x-scala2.12", node_type="Standard_DS3_v2", num_workers=1,
                           allow_reuse=False)
    return Pipeline(ws, [write, score]).publish(name=f"dbx-{uuid.uuid4().hex[:8]}")


def _submit(base: str, published: PublishedPipeline, **parameters: object) -> str:
    answer = requests.post(on_host(published.endpoint, base), json={
        "ExperimentName": f"dbx-{uuid.uuid4().hex[:6]}", "ParameterAssignments": parameters}, timeout=10)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["Id"])


def _step(base: str, run_id: str, name: str) -> dict[str, object]:
    return next(s for s in get_run(base, run_id, steps="true")["Steps"] if s["Name"] == name)


def test_a_published_databricks_step_runs_with_the_apps_credential_on_a_new_cluster(
        http_base: str, http_workspace: Workspace, server: JobsServer) -> None:
    server.api.behave(SCRIPT, Behaviour(pending_seconds=0.2, run_seconds=0.4, logs="scored 3 rows\n"))
    run_id = _submit(http_base, _publish(http_workspace), day="tue")
    assert wait_status(http_base, run_id, timeout=60) == "Finished", get_run(http_base, run_id, steps="true")
    [submitted] = server.api.runs.values()
    assert submitted.task["new_cluster"] == {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2",
                                             "num_workers": 1}
    params = submitted.task["spark_python_task"]["parameters"]
    assert params[:3] == ["--day", "tue", "-raw"] and params[3].endswith("_write/raw")
    remote = _step(http_base, run_id, "score")["Remote"]
    assert remote["handle"]["run_id"] == submitted.run_id  # type: ignore[index]
    assert remote["databricks_run"]["result_state"] == "SUCCESS"  # type: ignore[index]
    assert remote["databricks_run"]["run_page_url"].endswith(f"/run/{submitted.run_id}")  # type: ignore[index]
    log = requests.get(f"{http_base}/api/runs/{run_id}/steps/score/logs", timeout=10)
    assert log.status_code == 200, log.text
    assert "scored 3 rows" in log.text and f"submitted Databricks run {submitted.run_id}" in log.text


def test_canceling_a_published_run_over_http_cancels_the_databricks_run(
        http_base: str, http_workspace: Workspace, server: JobsServer) -> None:
    server.api.behave(SCRIPT, Behaviour(pending_seconds=0.1, run_seconds=300))
    run_id = _submit(http_base, _publish(http_workspace))
    deadline = time.monotonic() + 30
    while not server.api.runs and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.api.runs, "the Databricks run was never submitted"
    assert requests.post(f"{http_base}/api/runs/{run_id}/cancel", timeout=10).status_code == 202
    assert wait_status(http_base, run_id, timeout=30) == "Canceled"
    assert server.api.calls("runs/cancel")
    assert _step(http_base, run_id, "score")["Status"]["StatusCode"] == "Canceled"  # type: ignore[index]


def test_the_apps_credential_never_goes_to_a_host_the_spec_names(
        http_base: str, http_workspace: Workspace, server: JobsServer) -> None:
    from pipeline_core.core.compute import ComputeTarget, DatabricksCompute
    from pipeline_core.databricks.settings import forget_attached

    elsewhere = ComputeTarget.attach(http_workspace, "dbx-app", DatabricksCompute.attach_configuration(
        workspace_url="https://attacker.example.net"))
    forget_attached("dbx-app")  # the app has only its settings, as on Azure
    run_id = _submit(http_base, _publish(http_workspace, elsewhere))
    assert wait_status(http_base, run_id, timeout=60) == "Failed"
    error = str(_step(http_base, run_id, "score"))
    assert "AMLITE_DATABRICKS_HOST_DBX_APP" in error and "attacker.example.net" in error
    assert not server.api.runs
