"""HyperDriveStep end to end: trials as child runs between PythonScriptSteps, locally and through a published endpoint.

Real parts throughout: Azurite, the repo's Functions app on the dev host's Durable engine, trial
scripts that log through ``Run.get_context()``. Trials are tiny scripts; the Bandit test's poor
trials log slowly so the policy's look (every 2 s while trials run) finds them running.
"""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_host import serve_repo_app

from amlite_devhost.server import DevHost
from pipeline_core import Workspace
from pipeline_core.core import Experiment, ScriptRunConfig
from pipeline_core.pipeline.core import Pipeline, PipelineData, PublishedPipeline, TrainingOutput
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.pipeline.steps import HyperDriveStep, HyperDriveStepRun, PythonScriptStep
from pipeline_core.train.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    MedianStoppingPolicy,
    PrimaryMetricGoal,
    TruncationSelectionPolicy,
    choice,
    uniform,
)

pytestmark = pytest.mark.integration

TRAIN = """
    import argparse, os, time
    from pipeline_core.core import Run
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--rate", type=float); p.add_argument("--fail", default="no")
    a = p.parse_args()
    if a.fail == "yes":
        raise SystemExit("this trial's script fails on purpose")
    base = float(open(os.path.join(a.data, "base.txt")).read())
    run = Run.get_context()
    run.parent.log("trials_started", 1)   # run.parent of a trial is the HyperDrive step's run (AML)
    good = a.rate >= 0.5
    for i in range(40):   # poor trials log slowly: the policy finds them running
        run.log("accuracy", base * a.rate)
        time.sleep(0.005 if good else 0.25)
    os.makedirs("outputs", exist_ok=True)
    open("outputs/model.txt", "w").write(f"rate={a.rate}")
"""


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # A fresh script per test: Azurite may outlive a session, and reuse keys are content-addressed.
    (folder / name).write_text(f"# {uuid.uuid4().hex}\n" + textwrap.dedent(text).lstrip())


def _pipeline(workspace: Workspace, src: Path, *, rates: tuple[float, ...] = (1.0, 0.1, 0.2),
              fail: str = "no", allow_reuse: bool = True, sampling: Any = None, policy: Any = "bandit",
              total: int | None = None, concurrent: int | None = None) -> tuple[Pipeline, HyperDriveStep]:
    store = workspace.get_default_datastore()
    _write(src, "prep.py", """
        import os, sys
        os.makedirs(sys.argv[1], exist_ok=True)
        open(os.path.join(sys.argv[1], "base.txt"), "w").write("0.9")
    """)
    _write(src, "train.py", TRAIN)
    _write(src, "use.py", """
        import os, sys
        print("best model:", open(os.path.join(sys.argv[1], "model.txt")).read())
    """)
    prepared = PipelineData("prepared", datastore=store)
    metrics = PipelineData("metrics_data", datastore=store, pipeline_output_name="metrics_output",
                           training_output=TrainingOutput("Metrics"))
    model = PipelineData("best_model", datastore=store, training_output=TrainingOutput("Model",
                                                                                        model_file="outputs/model.txt"))
    prep = PythonScriptStep(name="prep", script_name="prep.py", source_directory=str(src), arguments=[prepared],
                            outputs=[prepared])
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(source_directory=str(src), script="train.py", arguments=["--fail", fail]),
        hyperparameter_sampling=sampling or GridParameterSampling({"--rate": choice(*rates)}),
        policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1) if policy == "bandit" else policy,
        primary_metric_name="accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=total or len(rates), max_concurrent_runs=concurrent or len(rates))
    tune = HyperDriveStep(name="tune", hyperdrive_config=config, estimator_entry_script_arguments=["--data", prepared],
                          inputs=[prepared], outputs=[model], metrics_output=metrics, allow_reuse=allow_reuse)
    use = PythonScriptStep(name="use", script_name="use.py", source_directory=str(src), arguments=[model],
                           inputs=[model])
    return Pipeline(workspace=workspace, steps=[prep, tune, use]), tune


def _children(run: PipelineRun) -> dict[str, str]:
    step = run.find_step_run("tune")[0]
    return {child.get_parameters()["--rate"]: child.get_status() for child in step.get_children()}


def test_bandit_ends_poor_trials_early_and_the_best_model_flows_on(workspace: Workspace, tmp_path: Path) -> None:
    pipeline, _ = _pipeline(workspace, tmp_path / "src")
    run = Experiment(workspace, f"hd-{uuid.uuid4().hex[:8]}").submit(pipeline)
    assert run.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Finished"
    # The good trial finished; both poor ones were stopped by the policy, as on AML: Canceled.
    assert _children(run) == {1.0: "Finished", 0.1: "Canceled", 0.2: "Canceled"}
    step = run.find_step_run("tune")[0]
    canceled = [c for c in step.get_children() if c.get_status() == "Canceled"]
    assert all("BanditPolicy" in json.dumps(c.get_details()["error"]) or "slack" in json.dumps(c.get_details()["error"])
               for c in canceled), [c.get_details()["error"] for c in canceled]
    assert all(len(c.get_metrics()["accuracy"]) < 40 for c in canceled)  # stopped before their 40th log
    assert step.get_metrics()["trials_started"] == [1, 1, 1]
    hd = HyperDriveStepRun(step)
    best = hd.get_best_run_by_primary_metric()
    assert best is not None and best.id == f"{run.id}_tune_HD_0"
    assert "outputs/model.txt" in best.get_file_names()  # a trial's ./outputs are its run's files (AML)
    best.download_file("outputs/model.txt", str(tmp_path / "model.txt"))
    assert (tmp_path / "model.txt").read_text() == "rate=1.0"
    assert hd.get_children_sorted_by_primary_metric()[0]["hyperparameters"] == {"--rate": 1.0}
    assert set(hd.get_metrics()) == {f"{run.id}_tune_HD_{i}" for i in range(3)}
    # TrainingOutput("Metrics"): one JSON file, every child's metrics; TrainingOutput("Model"): the best file.
    target = run.get_pipeline_output("metrics_output").download(str(tmp_path / "dl"), show_progress=False)
    assert set(json.loads(Path(target).read_text())) == {f"tune_HD_{i}" for i in range(3)}
    assert "best model: rate=1.0" in run.find_step_run("use")[0].get_job_log()
    log = step.get_job_log()  # the step's log tells the story of the search
    assert "tune_HD_1: stopped early" in log and f"best {run.id}_tune_HD_0" not in log and "best tune_HD_0" in log
    from pipeline_core.rest.views.run_view import run_view

    view = run_view(workspace.backend.run_source(run.id).get_state(), None)
    text = next(s for s in view["Steps"] if s["Name"] == "tune")["ProgressText"]
    assert text.startswith("3 child runs: 2 canceled, 1 finished; best tune_HD_0 (accuracy=0.9")


@pytest.mark.parametrize("policy", [MedianStoppingPolicy(), TruncationSelectionPolicy(truncation_percentage=50)],
                         ids=["median", "truncation"])
def test_the_other_policies_end_the_poor_trial_early(workspace: Workspace, tmp_path: Path, policy: Any) -> None:
    pipeline, _ = _pipeline(workspace, tmp_path / "src", rates=(1.0, 0.1), policy=policy)
    run = Experiment(workspace, f"hd-policy-{uuid.uuid4().hex[:8]}").submit(pipeline)
    assert run.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Finished"
    assert _children(run) == {1.0: "Finished", 0.1: "Canceled"}


def test_rerun_reuses_the_search_and_shows_its_children(workspace: Workspace, tmp_path: Path) -> None:
    pipeline, _ = _pipeline(workspace, tmp_path / "src", rates=(1.0, 0.95))  # both within the slack
    experiment = Experiment(workspace, f"hd-reuse-{uuid.uuid4().hex[:8]}")
    first = experiment.submit(pipeline)
    assert first.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Finished"
    second = experiment.submit(pipeline)
    assert second.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Finished"
    step = second.find_step_run("tune")[0]
    assert step.is_reused and step.reused_run_id == first.id
    assert _children(second) == {1.0: "Finished", 0.95: "Finished"}


def test_failing_trials_fail_the_step_with_the_scripts_error(workspace: Workspace, tmp_path: Path) -> None:
    pipeline, _ = _pipeline(workspace, tmp_path / "src", rates=(1.0, 0.9), fail="yes")
    run = Experiment(workspace, f"hd-fail-{uuid.uuid4().hex[:8]}").submit(pipeline)
    assert run.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Failed"
    step = run.find_step_run("tune")[0]
    assert step.get_status() == "Failed"
    error = step.get_details()["error"]["message"]
    assert "no trial of the search finished" in error and "fails on purpose" in error
    assert set(_children(run).values()) == {"Failed"}
    assert run.find_step_run("use")[0].get_status() != "Finished"


def test_bayesian_sampling_runs_one_trial_after_another(workspace: Workspace, tmp_path: Path) -> None:
    """Optuna's TPE draws each trial from the finished ones; one at a time, so every draw sees all before it."""
    pipeline, _ = _pipeline(workspace, tmp_path / "src", sampling=BayesianParameterSampling({"--rate": uniform(0.5, 1.0)}),
                            policy=None, total=3, concurrent=1)
    run = Experiment(workspace, f"hd-bayes-{uuid.uuid4().hex[:8]}").submit(pipeline)
    assert run.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Finished"
    children = list(run.find_step_run("tune")[0].get_children())
    assert [c.get_status() for c in children] == ["Finished"] * 3
    rates = [c.get_parameters()["--rate"] for c in children]
    assert len(set(rates)) == 3 and all(0.5 <= r <= 1.0 for r in rates)
    starts = [c.get_details()["startTimeUtc"] for c in children]
    ends = [c.get_details()["endTimeUtc"] for c in children]
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # max_concurrent_runs=1


def test_cancel_stops_the_running_trials(workspace: Workspace, tmp_path: Path) -> None:
    pipeline, _ = _pipeline(workspace, tmp_path / "src", rates=(0.1, 0.2), allow_reuse=False)  # 10 s trials
    run = Experiment(workspace, f"hd-cancel-{uuid.uuid4().hex[:8]}").submit(pipeline)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Running" not in _children(run).values():
        time.sleep(0.2)
    assert "Running" in _children(run).values()
    began = time.monotonic()
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False) == "Canceled"
    assert time.monotonic() - began < 9  # well before the trials' own end
    assert set(_children(run).values()) == {"Canceled"}
    assert run.find_step_run("tune")[0].get_status() == "Canceled"


def test_a_step_cancel_stops_its_trials_without_a_policy(workspace: Workspace, tmp_path: Path) -> None:
    """What fail-fast sends (a cancel of the step alone, not of the run): the trials notice within a second,
    though without a policy the orchestrator looks again only every 30 s."""
    from pipeline_core.engine.activities import cancel_steps
    from pipeline_core.engine.services import services_for

    pipeline, _ = _pipeline(workspace, tmp_path / "src", rates=(0.1, 0.2), policy=None, allow_reuse=False)
    run = Experiment(workspace, f"hd-stepcancel-{uuid.uuid4().hex[:8]}").submit(pipeline)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and list(_children(run).values()) != ["Running", "Running"]:
        time.sleep(0.2)
    began = time.monotonic()
    cancel_steps(services_for(workspace.storage), run.id, ["tune"])
    step = run.find_step_run("tune")[0]
    while time.monotonic() - began < 30 and step.get_status() != "Canceled":
        time.sleep(0.2)
    assert step.get_status() == "Canceled" and time.monotonic() - began < 8
    assert set(_children(run).values()) == {"Canceled"}
    assert all(len(c.get_metrics().get("accuracy", [])) < 40 for c in step.get_children())  # before their end
    assert run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False) == "Failed"


def test_a_failing_sibling_stops_the_search(workspace: Workspace, tmp_path: Path) -> None:
    """Fail-fast: a sibling step fails while the trials run; the search ends Canceled well before its trials would."""
    src = tmp_path / "src"
    pipeline, _ = _pipeline(workspace, src, rates=(0.1, 0.2), policy=None, allow_reuse=False)  # 10 s trials
    _write(src, "boom.py", """
        import time
        time.sleep(2)
        raise SystemExit("boom")
    """)
    boom = PythonScriptStep(name="boom", script_name="boom.py", source_directory=str(src))
    run = Experiment(workspace, f"hd-ff-{uuid.uuid4().hex[:8]}").submit(
        Pipeline(workspace=workspace, steps=[*pipeline._steps, boom]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120, raise_on_error=False) == "Failed"
    step = run.find_step_run("tune")[0]
    assert step.get_status() == "Canceled"
    assert {c.get_status() for c in step.get_children()} == {"Canceled"}
    assert all(len(c.get_metrics().get("accuracy", [])) < 40 for c in step.get_children())


@pytest.fixture(scope="module")
def app_host(azurite: str) -> Iterator[DevHost]:
    with serve_repo_app(azurite) as host:
        yield host


def test_through_a_published_endpoint(azurite: str, app_host: DevHost, tmp_path: Path) -> None:
    local = Workspace(storage=azurite)
    pipeline, _ = _pipeline(local, tmp_path / "src", rates=(1.0, 0.2))
    published = pipeline.publish(name=f"hd-{uuid.uuid4().hex[:8]}", description="tune", version="1")
    remote = Workspace(storage=azurite, endpoint=app_host.base_url)
    run = PublishedPipeline.get(remote, published.id).submit(remote, f"hd-rest-{uuid.uuid4().hex[:8]}")
    assert run.wait_for_completion(show_output=False, timeout_seconds=180, raise_on_error=False) == "Finished"
    step = run.find_step_run("tune")[0]  # read through the REST API
    children = {c.get_parameters()["--rate"]: c.get_status() for c in step.get_children()}
    assert children == {1.0: "Finished", 0.2: "Canceled"}
    first = next(iter(step.get_children()))
    assert "[amlite] child run tune_HD_0" in first.get_job_log()  # a trial's own log, through REST
    assert first.get_metrics()["accuracy"][0] == pytest.approx(0.9)
    assert HyperDriveStepRun(step).get_best_run_by_primary_metric().id == f"{run.id}_tune_HD_0"


def test_child_rows_stay_out_of_the_steps_and_stop_with_their_step(workspace: Workspace) -> None:
    """The run store's side: a child run is listed on its step's row, never as a step, and its stop check
    answers a cancel of its step, of itself, and a newer attempt."""
    from pipeline_core.engine.child_runs import child_stop_reason
    from pipeline_core.engine.services import services_for
    from pipeline_core.storage.run_store import step_key

    services = services_for(workspace.storage)
    rid = uuid.uuid4().hex
    services.runs.create_run(rid, "child-rows", {"graph_id": "none"}, [("tune", {}), ("use", {})])
    services.runs.create_children(rid, "tune", [(f"tune_HD_{i}", {"index": i, "parameters": {"--a": i}})
                                                for i in range(2)])
    state = services.runs.get_state(rid)
    assert list(state.steps) == ["tune", "use"]
    assert [c["name"] for c in state.steps["tune"]["child_runs"]] == ["tune_HD_0", "tune_HD_1"]
    assert state.steps["tune"]["child_runs"][1]["parameters"] == {"--a": 1}
    services.runs.transition(rid, step_key("tune_HD_0"), "Running", {"attempt": 1})
    assert child_stop_reason(services, rid, "tune", "tune_HD_0", 1) is None
    assert child_stop_reason(services, rid, "tune", "tune_HD_0", 2) == "superseded"
    services.runs.transition(rid, step_key("tune_HD_1"), "CancelRequested")
    assert child_stop_reason(services, rid, "tune", "tune_HD_1", 0) == "canceled"
    services.runs.transition(rid, step_key("tune"), "CancelRequested")
    assert child_stop_reason(services, rid, "tune", "tune_HD_0", 1) == "canceled"
