"""DatabricksStep in pipelines with PythonScriptSteps, run locally against a Jobs API server on a real socket.

The local submit runs ``pipeline_run`` in the in-process Durable engine: the Databricks
step goes through the generic ``poll_step`` sub-orchestration (``poll_start``, durable
timers, ``poll_check``), and the server sees exactly what Databricks would: one
``runs/submit``, ``runs/get`` between timers, ``runs/cancel`` on a cancel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.databricks_jobs import Behaviour, JobsServer

from pipeline_core import Experiment, Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace
from pipeline_core.core.compute import ComputeTarget, DatabricksCompute
from pipeline_core.core.databricks import PyPiLibrary
from pipeline_core.databricks.settings import forget_attached
from pipeline_core.pipeline.steps import DatabricksStep

pytestmark = pytest.mark.integration

NOTEBOOK = "/Shared/prep"
WRITE = ("import sys, pathlib\n"
         "pathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)\n"
         "pathlib.Path(sys.argv[1], 'raw.csv').write_text('a,b\\n1,2\\n')\n"
         "print('wrote raw')\n")
AFTER = "print('after databricks')\n"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JobsServer]:
    monkeypatch.setenv("AMLITE_DATABRICKS_POLL_FIRST_SECONDS", "0.2")
    monkeypatch.setenv("AMLITE_DATABRICKS_POLL_MAX_SECONDS", "0.5")
    with JobsServer(realtime=True) as running:
        yield running


@pytest.fixture
def dbx(workspace: Workspace, server: JobsServer) -> Iterator[DatabricksCompute]:
    config = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="dbw",
                                                    access_token=server.api.token, workspace_url=server.url)
    target = ComputeTarget.attach(workspace, "dbx", config)
    assert isinstance(target, DatabricksCompute)
    yield target
    forget_attached("dbx")


def _pipeline(ws: Workspace, src: Path, dbx: DatabricksCompute, **step: object) -> Pipeline:
    raw, scored = PipelineData("raw"), PipelineData("scored")
    write = PythonScriptStep("write.py", name="write", arguments=[raw], outputs=[raw], source_directory=str(src))
    settings: dict[str, object] = {"notebook_path": NOTEBOOK, "existing_cluster_id": "0101-abc",
                                   "notebook_params": {"date": PipelineParameter("date", default_value="2026-12-01")},
                                   **step}
    databricks = DatabricksStep("prep", inputs=[raw], outputs=[scored], compute_target=dbx,
                                pypi_libraries=[PyPiLibrary("lightgbm==4.6.0")], **settings)  # type: ignore[arg-type]
    after = PythonScriptStep("after.py", name="after", inputs=[scored], arguments=[scored], source_directory=str(src))
    return Pipeline(ws, [write, databricks, after])


@pytest.fixture
def src(source_dir: Path) -> Path:
    (source_dir / "write.py").write_text(WRITE)
    (source_dir / "after.py").write_text(AFTER)
    return source_dir


def _error(step_run: object) -> str:
    details = step_run.get_details()  # type: ignore[attr-defined]
    return str(details.get("error") or details)


def test_a_notebook_step_between_script_steps_finishes_logs_the_driver_and_is_reused(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    server.api.behave(NOTEBOOK, Behaviour(pending_seconds=0.3, run_seconds=0.6, notebook_result="rows=42"))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx),
                                                        pipeline_parameters={"date": "2026-12-03"})
    assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
    [submitted] = server.api.runs.values()
    task = submitted.task
    params = task["notebook_task"]["base_parameters"]
    assert params["date"] == "2026-12-03"  # the run's parameter value
    raw = run.find_step_run("write")[0].get_output_data("raw")  # the upstream output (maybe reused), as a URL
    assert params["raw"].endswith("/pipelinedata/" + raw.path_on_datastore)
    assert params["scored"].endswith(f"azureml/{run.id}_prep/scored")
    assert task["existing_cluster_id"] == "0101-abc" and task["libraries"] == [{"pypi": {"package": "lightgbm==4.6.0"}}]
    assert submitted.body["idempotency_token"].startswith("amlite-")
    prep = run.find_step_run("prep")[0]
    log = prep.get_job_log()
    assert f"submitted Databricks run {submitted.run_id}" in log and "notebook result: rows=42" in log
    assert "TERMINATED/SUCCESS" in log
    assert prep.get_details()["remote"]["databricks_run"]["run_id"] == submitted.run_id
    assert "after databricks" in run.find_step_run("after")[0].get_stdout_log()
    assert len(server.api.calls("runs/get")) >= 2  # polled between timers, not once

    again = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx),
                                                          pipeline_parameters={"date": "2026-12-03"})
    assert again.wait_for_completion(show_output=False) == "Finished"
    assert again.find_step_run("prep")[0].is_reused and len(server.api.runs) == 1  # no second Databricks run
    other = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx),
                                                          pipeline_parameters={"date": "2026-12-04"})
    assert other.wait_for_completion(show_output=False) == "Finished"
    assert not other.find_step_run("prep")[0].is_reused and len(server.api.runs) == 2


def test_a_failed_databricks_run_fails_the_step_with_its_state_message_and_output(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    script = "dbfs:/scripts/score.py"
    server.api.behave(script, Behaviour(result_state="FAILED", pending_seconds=0.1, run_seconds=0.3,
                                        logs="loading model\n", error="ValueError: no rows"))
    pipeline = _pipeline(workspace, src, dbx, notebook_path=None, notebook_params=None, python_script_path=script,
                         python_script_params=["--epochs", 5])
    run = Experiment(workspace, experiment_name).submit(pipeline)
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    [submitted] = server.api.runs.values()
    params = submitted.task["spark_python_task"]["parameters"]
    assert params[:3] == ["--epochs", "5", "-raw"] and params[4] == "-scored"  # AML's "-name url" pairs
    prep = run.find_step_run("prep")[0]
    assert prep.get_status() == "Failed"
    error = _error(prep)
    assert "Workload failed, see run output for details" in error and "ValueError: no rows" in error
    assert "loading model" in prep.get_job_log()
    assert run.find_step_run("after")[0].get_status() == "Canceled"  # never ran


def test_a_run_past_its_timeout_fails_the_step_saying_so(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    server.api.behave(NOTEBOOK, Behaviour(pending_seconds=0.1, run_seconds=60))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx, timeout_seconds=1))
    began = time.monotonic()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    assert time.monotonic() - began < 20
    [submitted] = server.api.runs.values()
    assert submitted.task["timeout_seconds"] == 1
    assert "timed out" in _error(run.find_step_run("prep")[0])


def test_canceling_the_pipeline_run_cancels_the_databricks_run(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    server.api.behave(NOTEBOOK, Behaviour(pending_seconds=0.1, run_seconds=120))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx))
    deadline = time.monotonic() + 30
    while not server.api.runs and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.api.runs, "the Databricks run was never submitted"
    run.cancel()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Canceled"
    assert server.api.calls("runs/cancel"), "Databricks never got runs/cancel"
    [submitted] = server.api.runs.values()
    assert submitted.canceled_at is not None
    prep = run.find_step_run("prep")[0]
    assert prep.get_status() == "Canceled" and "asked to stop" in prep.get_job_log()


def test_a_compute_with_no_workspace_fails_the_step_naming_the_settings(
        workspace: Workspace, src: Path, experiment_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMLITE_DATABRICKS_HOST", raising=False)
    pipeline = Pipeline(workspace, [DatabricksStep("prep", notebook_path=NOTEBOOK, existing_cluster_id="c",
                                                   compute_target="nowhere")])
    run = Experiment(workspace, experiment_name).submit(pipeline)
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    error = _error(run.find_step_run("prep")[0])
    assert "AMLITE_DATABRICKS_HOST" in error and "'nowhere'" in error


def test_a_redelivered_start_finds_the_same_databricks_run_and_a_flaky_service_is_polled_again(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    from pipeline_core.engine.poll_step import poll_check, poll_start
    from pipeline_core.engine.services import services_for

    server.api.behave(NOTEBOOK, Behaviour(pending_seconds=0.1, run_seconds=3))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx))
    deadline = time.monotonic() + 30
    while not server.api.runs and time.monotonic() < deadline:
        time.sleep(0.05)
    [submitted] = server.api.runs.values()
    services = services_for(workspace.storage)
    while services.runs.get_step(run.id, "prep").get("remote") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    again = poll_start(services, run.id, "prep")  # Durable delivered the start activity a second time
    assert again["done"] is False and again["handle"]["run_id"] == submitted.run_id
    assert len(server.api.calls("runs/submit")) == 1 and len(server.api.runs) == 1

    token = server.api.token
    server.api.token = "rotated"  # the workspace refuses the credential for a while: polls fail, the step waits
    flaky = poll_check(services, {"run_id": run.id, "step": "prep", "handle": again["handle"], "polls": 1})
    assert flaky == {"done": False, "status": services.runs.get_step(run.id, "prep")["remote"].get("status")}
    assert services.runs.get_step(run.id, "prep")["remote"]["poll_failures"] == 1
    server.api.token = token
    assert run.wait_for_completion(show_output=False) == "Finished"
    log = run.find_step_run("prep")[0].get_job_log()
    assert "could not read the remote state (1 in a row)" in log and "UNAUTHENTICATED" in log.upper()


def test_python_script_name_copies_source_directory_to_dbfs_once_and_runs_it_there(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    (src / "score.py").write_text("import sys\nprint('scoring', sys.argv[1:])\n")
    (src / "lib").mkdir()
    (src / "lib" / "helpers.py").write_text("X = 1\n")

    def pipeline() -> Pipeline:
        return _pipeline(workspace, src, dbx, notebook_path=None, notebook_params=None, python_script_name="score.py",
                         source_directory=str(src), python_script_params=["--n", 3])

    run = Experiment(workspace, experiment_name).submit(pipeline())
    assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
    [submitted] = server.api.runs.values()
    task = submitted.task["spark_python_task"]
    folder = task["python_file"].rsplit("/", 1)[0]
    assert task["python_file"].startswith("dbfs:/amlite/snapshots/") and task["python_file"].endswith("/score.py")
    assert task["parameters"][:3] == ["--n", "3", "-raw"] and task["parameters"][-2:] == [
        "--AZUREML_SCRIPT_DIRECTORY_NAME", folder]
    dbfs = folder[len("dbfs:"):]
    assert server.api.files[f"{dbfs}/score.py"].startswith(b"import sys")
    assert server.api.files[f"{dbfs}/lib/helpers.py"] == b"X = 1\n" and f"{dbfs}/.amlite-complete" in server.api.files
    creates = len([r for r in server.api.requests if r[1].endswith("dbfs/create")])

    rerun = Experiment(workspace, experiment_name).submit(pipeline(), regenerate_outputs=True)
    assert rerun.wait_for_completion(show_output=False) == "Finished"
    assert len(server.api.runs) == 2  # ran again, from the copy already on DBFS
    assert len([r for r in server.api.requests if r[1].endswith("dbfs/create")]) == creates


def test_when_databricks_ignores_its_timeout_amlite_cancels_the_run_and_fails_the_step(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    from pipeline_core.engine.poll_step import poll_check
    from pipeline_core.engine.services import services_for

    server.api.behave(NOTEBOOK, Behaviour(pending_seconds=0.1, run_seconds=300))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx, timeout_seconds=200))
    services = services_for(workspace.storage)
    deadline = time.monotonic() + 30
    while not (services.runs.get_step(run.id, "prep").get("remote") or {}).get("handle"):
        assert time.monotonic() < deadline, "the Databricks run was never recorded"
        time.sleep(0.05)
    server.api.runs[next(iter(server.api.runs))].timeout = None  # this workspace never times the run out
    handle = services.runs.get_step(run.id, "prep")["remote"]["handle"]
    # what the orchestrator sends once its clock passes the deadline (200 s + one poll: not waited for here)
    ended = poll_check(services, {"run_id": run.id, "step": "prep", "handle": handle, "polls": 9, "timed_out": True})
    assert ended["done"] is True and ended["result"]["status"] == "Failed"
    assert "timed out after 200.5 s" in ended["result"]["error"]
    assert server.api.calls("runs/cancel")
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"


def test_a_data_reference_input_reaches_a_jar_by_its_reference_name(
        workspace: Workspace, tmp_path: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str) -> None:
    from pipeline_core.core.databricks import JarLibrary
    from pipeline_core.data.data_reference import DataReference

    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "day.csv").write_text("a\n1\n")
    store = workspace.get_default_datastore()
    store.upload(str(tmp_path / "up"), target_path="landing/2026", overwrite=True, show_progress=False)
    landing = DataReference(store, data_reference_name="input1", path_on_datastore="landing/2026")
    out = PipelineData("output1")
    step = DatabricksStep("jar", inputs=[landing], outputs=[out], main_class_name="org.example.Prep",
                          jar_params=["--full"], jar_libraries=[JarLibrary("dbfs:/libs/prep.jar")],
                          existing_cluster_id="0101-abc", compute_target=dbx)
    server.api.behave("org.example.Prep", Behaviour(pending_seconds=0.1, run_seconds=0.2, logs="prepared\n"))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    assert run.wait_for_completion(show_output=False) == "Finished"
    [submitted] = server.api.runs.values()
    jar = submitted.task["spark_jar_task"]
    assert jar["main_class_name"] == "org.example.Prep" and submitted.task["libraries"] == [{"jar": "dbfs:/libs/prep.jar"}]
    assert jar["parameters"][:2] == ["--full", "-input1"] and jar["parameters"][2].endswith("/landing/2026")
    assert jar["parameters"][3] == "-output1" and jar["parameters"][4].endswith(f"azureml/{run.id}_jar/output1")
    assert "prepared" in run.find_step_run("jar")[0].get_job_log()


def test_a_long_polled_run_continues_as_new_on_the_local_engine_and_finishes_once(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_core.engine import poll_step

    monkeypatch.setattr(poll_step, "RESTART_AFTER_POLLS", 2)  # a generation per two polls instead of a hundred
    carried: list[int] = []
    carry = poll_step.PollLoop.carry
    monkeypatch.setattr(poll_step.PollLoop, "carry", lambda loop: carried.append(loop.polls) or carry(loop))
    server.api.behave(NOTEBOOK, Behaviour(pending_seconds=0.2, run_seconds=2.5, notebook_result="late"))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx))
    assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
    assert len(server.api.calls("runs/get")) >= 5 and len(server.api.calls("runs/submit")) == 1
    assert "notebook result: late" in run.find_step_run("prep")[0].get_job_log()
    assert carried[:2] == [2, 4]  # generations handed their state on (replays of one may repeat its carry)


def test_a_platform_failure_and_an_unusable_setting_fail_the_step_saying_which(
        workspace: Workspace, src: Path, dbx: DatabricksCompute, server: JobsServer, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server.api.behave(NOTEBOOK, Behaviour(result_state="INTERNAL_ERROR", pending_seconds=0.1, run_seconds=0.2))
    run = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    assert "INTERNAL_ERROR: Cluster terminated unexpectedly" in _error(run.find_step_run("prep")[0])

    monkeypatch.setenv("AMLITE_DATABRICKS_POLL_FIRST_SECONDS", "soon")
    again = Experiment(workspace, experiment_name).submit(_pipeline(workspace, src, dbx))
    assert again.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    assert "AMLITE_DATABRICKS_POLL_FIRST_SECONDS='soon'" in _error(again.find_step_run("prep")[0])
    assert len(server.api.runs) == 1  # nothing submitted with an unusable setting
