"""AutoMLStep in a pipeline, run locally through the real orchestrator replay, against Azurite.

The pipeline is AML's AutoML sample shape: a registered TabularDataset (scikit-learn's breast
cancer data as CSV) -> AutoMLStep (FLAML) with a Model and a Metrics TrainingOutput -> a
PythonScriptStep that unpickles the best model and scores it. What a user would notice: the step
ends within its experiment timeout, the model loads and predicts, the trials are child runs with
AML's metric names (child rows, shown by REST's ChildRuns and the run view as HyperDrive's are), a
second submit reuses the step, a wrong label column fails with a message
naming it, and a cancel stops the search at once.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from pipeline_core import (
    Dataset,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineRun,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.pipeline.core import TrainingOutput
from pipeline_core.pipeline.core.run import StepRun
from pipeline_core.pipeline.steps import AutoMLStep, AutoMLStepRun
from pipeline_core.train.automl import AutoMLConfig
from pipeline_core.train.automl.run import AutoMLRun

pytestmark = pytest.mark.integration

#: The experiment timeout of the timed run (AML's argument is minutes): 24 s.
BUDGET_MINUTES = 0.4

SCORE = """
import argparse, os, pickle
from pipeline_core.core import Run
p = argparse.ArgumentParser(); p.add_argument("--model"); p.add_argument("--out"); a = p.parse_args()
model = pickle.load(open(a.model, "rb"))
frame = Run.get_context().input_datasets["score_data"].to_pandas_dataframe()
accuracy = float((model.predict(frame.drop(columns=["diagnosis"])) == frame["diagnosis"]).mean())
print(f"model {type(model).__name__} from {os.path.basename(a.model)}: accuracy {accuracy:.3f}")
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "accuracy.txt"), "w").write(str(accuracy))
"""


def cancer_dataset(workspace: Workspace, tmp_path: Path, name: str) -> Dataset:
    """scikit-learn's breast cancer data (569 rows, 30 features), labelled 'malignant'/'benign', registered."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    folder = tmp_path / name
    folder.mkdir()
    frame.to_csv(folder / "cancer.csv", index=False)
    store = workspace.get_default_datastore()
    store.upload(str(folder), target_path=name, show_progress=False)
    dataset = Dataset.Tabular.from_delimited_files(store.path(f"{name}/cancer.csv"))
    return dataset.register(workspace, name=name, create_new_version=True)


def automl_pipeline(workspace: Workspace, dataset: Dataset, src: Path, *, label: str = "diagnosis",
                    minutes: float = BUDGET_MINUTES) -> Pipeline:
    config = AutoMLConfig(task="classification", primary_metric="AUC_weighted", training_data=dataset,
                          label_column_name=label, n_cross_validations=3, experiment_timeout_minutes=minutes,
                          allowed_models=["LightGBM", "RandomForest", "ExtremeRandomTrees"])
    model = PipelineData("best_model", pipeline_output_name="best_model_output",
                         training_output=TrainingOutput(type="Model"))
    metrics = PipelineData("metrics_data", pipeline_output_name="metrics_output",
                           training_output=TrainingOutput(type="Metrics"))
    automl = AutoMLStep("automl_module", automl_config=config, outputs=[metrics, model], allow_reuse=True)
    (src / "score.py").write_text(SCORE)
    scored = PipelineData("scored")
    score = PythonScriptStep("score.py", name="score", source_directory=str(src), inputs=[model,
                             dataset.as_named_input("score_data")], outputs=[scored],
                             arguments=["--model", model, "--out", scored])
    return Pipeline(workspace, [automl, score])


def _seconds(row: dict) -> float:
    start, end = (datetime.fromisoformat(str(row[k]).replace("Z", "+00:00")) for k in ("start_time", "end_time"))
    return (end - start).total_seconds()


def test_automl_step_trains_within_budget_and_a_script_step_scores_the_best_model(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path) -> None:
    dataset = cancer_dataset(workspace, tmp_path, f"cancer_{experiment_name.replace('-', '_')}")
    experiment = Experiment(workspace, experiment_name)
    run = experiment.submit(automl_pipeline(workspace, dataset, source_dir))
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"

    (step,) = run.find_step_run("automl_module")
    row = step._refresh()
    budget = BUDGET_MINUTES * 60
    took = _seconds(row)
    print(f"AutoML step: {took:.2f} s from start to end for a {budget:g} s budget")  # -s shows the figure
    assert budget * 0.9 <= took <= budget * 1.1, f"the AutoML step took {took:.1f} s for a {budget:g} s budget"

    # The scoring step unpickled the model file it was given and scored it.
    score_log = run.find_step_run("score")[0].get_job_log()
    assert "model AutoMLFittedModel from model.pkl: accuracy" in score_log
    accuracy = float(score_log.split("accuracy ")[-1].split()[0])
    assert accuracy > 0.9

    # Child runs: one per trial, AML's metric names, the best by the primary metric.
    automl_run = AutoMLStepRun(step)
    children = list(automl_run.get_children())
    assert len(children) >= 3 and all(c.id.startswith(f"{step.id}_") for c in children)
    assert {"accuracy", "AUC_weighted", "f1_score_weighted", "norm_macro_recall"} <= set(children[0].get_metrics())
    # Each child's metrics read once (a search in this budget runs 100+ trials; each read is a storage query).
    auc = {c.id: c.get_metrics()["AUC_weighted"] for c in children}
    best = automl_run.get_best_child()
    assert best.get_metrics()["AUC_weighted"] == max(auc.values())
    assert best.properties["run_algorithm"] in ("LightGBM", "RandomForest", "ExtremeRandomTrees")
    assert automl_run.get_metrics()["AUC_weighted"] == best.get_metrics()["AUC_weighted"]
    assert step.get_metrics()["AUC_weighted"] == best.get_metrics()["AUC_weighted"]  # logged as the step's
    assert row["search"]["child_runs"] == len(children) and row["search"]["best_child_run_id"] == best.id
    best_run, fitted = automl_run.get_output()
    assert best_run.id == best.id
    frame = dataset.to_pandas_dataframe()
    assert set(fitted.predict(frame.drop(columns=["diagnosis"]).head(20))) <= {"malignant", "benign"}
    log = step.get_job_log()
    assert "[automl] best: iteration" in log
    assert [f"[automl] iteration {c.iteration}:" in log for c in children] == [True] * len(children)
    assert log.count("[automl] iteration ") == len(children)  # each child run once, as it finished

    # The trials are the step's child rows, as a HyperDriveStep's are: a finished status, the model and its
    # hyperparameters as parameters, AML's metrics read through the run's metric store.
    rows = list(StepRun.get_children(step))  # the rows as a HyperDriveStep's StepRun reads them
    assert [r.id for r in rows] == [c.id for c in children] == [f"{step.id}_{i}" for i in range(len(children))]
    assert {r.get_status() for r in rows} == {"Finished"}
    assert [r.get_parameters()["model"] for r in rows] == [c.algorithm for c in children]
    assert rows[0].get_parameters() == children[0].get_parameters() and len(rows[0].get_parameters()) > 1
    assert [r.get_metrics()["AUC_weighted"] for r in rows] == [auc[c.id] for c in children]
    assert [c.id for c in automl_run.get_children(status="Finished")] == [c.id for c in children]
    search = row["search"]
    assert (search["children"], search["statuses"]) == (len(children), {"Finished": len(children)})
    assert search["best_child_run"] == best.id

    # AML's sample: download the pipeline outputs by name and open the files at _path_on_datastore.
    model_output = run.get_pipeline_output("best_model_output")
    model_output.download(str(tmp_path / "dl"), show_progress=False)
    with open(tmp_path / "dl" / model_output._path_on_datastore, "rb") as f:
        model = pickle.load(f)
    assert hasattr(model.estimator, "predict_proba")  # the scikit-learn compatible estimator inside
    metrics_output = run.get_pipeline_output("metrics_output")
    metrics_output.download(str(tmp_path / "dl"), show_progress=False)
    document = json.loads((tmp_path / "dl" / metrics_output._path_on_datastore).read_text())
    assert set(document) == {c.id for c in children}
    assert document[best.id]["AUC_weighted"] == [best.get_metrics()["AUC_weighted"]]
    df = pd.DataFrame({k: {m: v[0] for m, v in d.items()} for k, d in document.items()})
    assert "accuracy" in df.index

    # The step run is an AutoMLStepRun as found; AML's nyc-taxi sample finds it by StepType and reads it
    # with AutoMLRun(experiment, run_id).
    assert isinstance(step, AutoMLStepRun) and len(list(step.get_children())) == len(children)
    (found,) = [s for s in run.get_steps() if s.properties.get("StepType") == "AutoMLStep"]
    best_run, fitted = AutoMLRun(experiment=experiment, run_id=found.id).get_output()
    assert best_run.id == best.id and fitted.algorithm == best.properties["run_algorithm"]

    # Submitted again unchanged: the AutoML step and the scoring step are reused, children and all.
    again = experiment.submit(automl_pipeline(workspace, dataset, source_dir))
    started = time.monotonic()
    assert again.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    (reused,) = again.find_step_run("automl_module")
    assert reused.is_reused, reused.get_details()["reuse"]
    assert time.monotonic() - started < budget / 2
    assert reused.is_reused and again.find_step_run("score")[0].is_reused
    assert AutoMLStepRun(reused).get_best_child().id == best.id


def test_a_label_column_that_is_not_in_the_data_fails_the_step_with_its_name(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path) -> None:
    dataset = cancer_dataset(workspace, tmp_path, f"cancer_bad_{experiment_name.replace('-', '_')}")
    run = Experiment(workspace, experiment_name).submit(
        automl_pipeline(workspace, dataset, source_dir, label="diagnosys"))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120, raise_on_error=False) == "Failed"
    (step,) = run.find_step_run("automl_module")
    error = step.get_details()["error"]["message"]
    assert "label_column_name 'diagnosys' is not a column of the training_data" in error
    assert "'diagnosis'" in error  # the columns it has are listed
    assert run.find_step_run("score")[0].get_status() != "Finished"


def test_cancel_stops_the_search(workspace: Workspace, source_dir: Path, experiment_name: str,
                                 tmp_path: Path) -> None:
    dataset = cancer_dataset(workspace, tmp_path, f"cancer_cancel_{experiment_name.replace('-', '_')}")
    run = Experiment(workspace, experiment_name).submit(automl_pipeline(workspace, dataset, source_dir, minutes=10))
    (step,) = [None]
    deadline = time.monotonic() + 60
    while True:
        found = run.find_step_run("automl_module")
        if found and "[automl] iteration 1:" in found[0].get_job_log():  # child runs stream into the log
            step = found[0]
            break
        assert time.monotonic() < deadline, "the search never started"
        time.sleep(0.5)
    assert _training_processes(), "the search runs in a process of its own"
    while len(list(StepRun.get_children(step))) < 2:  # each trial is a child row once it ends, mid-search
        assert time.monotonic() < deadline, "the trials did not become child rows while the search ran"
        time.sleep(0.2)
    assert step._refresh()["search"]["children"] >= 2  # the run view's line counts them as they come
    started = time.monotonic()
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=30, raise_on_error=False) == "Canceled"
    assert time.monotonic() - started < 15
    assert step.get_status() == "Canceled"
    assert "[automl] best" not in step.get_job_log()
    assert {c.status for c in StepRun.get_children(step)} == {"Finished"}  # the trials that ended stay
    assert not _training_processes(), "the training process outlived the cancel"


def _training_processes() -> list[int]:
    """This test process's descendants that run the AutoML training (read from /proc)."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            commands[int(entry.name)] = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
    me, found = os.getpid(), []
    for pid, command in commands.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me and b"automl_worker" in command:
            found.append(pid)
    return found


PREP = """
import os, sys
import pandas as pd
from sklearn.datasets import load_diabetes
frame = load_diabetes(as_frame=True).frame
os.makedirs(sys.argv[1], exist_ok=True)
frame.to_parquet(os.path.join(sys.argv[1], "diabetes.parquet"))
print("prepared", len(frame), "rows")
"""


def test_regression_on_an_upstream_output_read_as_parquet(workspace: Workspace, source_dir: Path,
                                                          experiment_name: str) -> None:
    """The nyc-taxi sample's shape: a prep step's output, read as a table (parse_parquet_files), trains AutoML."""
    (source_dir / "prep.py").write_text(PREP)
    prepared = PipelineData("prepared", datastore=workspace.get_default_datastore())
    prep = PythonScriptStep("prep.py", name="prep", source_directory=str(source_dir), arguments=[prepared],
                            outputs=[prepared])
    config = AutoMLConfig(task="regression", primary_metric="normalized_root_mean_squared_error",
                          training_data=prepared.as_dataset().parse_parquet_files(), label_column_name="target",
                          experiment_timeout_minutes=0.2, allowed_models=["LightGBM", "ElasticNet"])
    automl = AutoMLStep("train", automl_config=config)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [prep, automl]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Finished"
    (step,) = run.find_step_run("train")
    assert isinstance(step, AutoMLStepRun)
    best = step.get_best_child()
    assert best.properties["run_algorithm"] in ("LightGBM", "ElasticNet")
    assert 0 < best.get_metrics()["normalized_root_mean_squared_error"] < 0.5
    assert {"r2_score", "spearman_correlation", "mean_absolute_error"} <= set(best.get_metrics())
    model_file = step.get_default_model_output()
    assert model_file.path_on_datastore.endswith("/default_model_train/model.pkl")
    _, fitted = step.get_output()
    assert fitted.task == "regression"


@pytest.fixture(scope="module")
def remote_workspace(azurite: str) -> Iterator[Workspace]:
    """The repo's Functions app served by the dev host on a free loopback port; the workspace talks REST to it."""
    from app_host import serve_repo_app

    with serve_repo_app(azurite) as host:
        yield Workspace(endpoint=host.base_url, storage=azurite)


def test_automl_step_through_a_published_endpoint(remote_workspace: Workspace, workspace: Workspace,
                                                  source_dir: Path, experiment_name: str, tmp_path: Path) -> None:
    """Published from a remote workspace, run by POSTing to its REST endpoint as AML's notebooks do."""
    dataset = cancer_dataset(workspace, tmp_path, f"cancer_remote_{experiment_name.replace('-', '_')}")
    pipeline = automl_pipeline(remote_workspace, dataset, source_dir, minutes=0.25)
    published = pipeline.publish(name=f"automl-{experiment_name}", description="AutoML then score")
    assert published.endpoint.startswith(f"{remote_workspace.endpoint}/api/pipelines/")
    answer = requests.post(published.endpoint, json={"ExperimentName": experiment_name}, timeout=30)
    assert answer.status_code == 202, answer.text
    run = PipelineRun(Experiment(remote_workspace, experiment_name), answer.json()["Id"])
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"
    (step,) = run.find_step_run("automl_module")
    took = _seconds(step._refresh())
    print(f"AutoML step through the endpoint: {took:.2f} s from start to end for a 15 s budget")
    assert 15 * 0.9 <= took <= 15 * 1.1
    assert isinstance(step, AutoMLStepRun)  # the REST run source knows the step's kind too
    best = step.get_best_child()
    assert list(step.get_children()) and best.get_metrics()["AUC_weighted"] > 0.9
    assert "accuracy" in run.find_step_run("score")[0].get_job_log()

    # REST shows the trials as the step entity's ChildRuns, as it shows HyperDrive's, metrics and all.
    answer = requests.get(f"{remote_workspace.endpoint}/api/runs/{run.id}",
                          params={"steps": "true", "metrics": "true"}, timeout=30)
    assert answer.status_code == 200, answer.text
    (entity,) = [s for s in answer.json()["Steps"] if s["Name"] == "automl_module"]
    shown = entity["ChildRuns"]
    assert [c["Id"] for c in shown] == [c.id for c in step.get_children()]
    assert {c["Status"]["StatusCode"] for c in shown} == {"Finished"}
    assert all(c["Parameters"]["model"] in ("LightGBM", "RandomForest", "ExtremeRandomTrees") for c in shown)
    (best_entity,) = [c for c in shown if c["Id"] == best.id]
    assert best_entity["Metrics"]["AUC_weighted"] == best.get_metrics()["AUC_weighted"]
    assert {"accuracy", "AUC_weighted", "f1_score_weighted"} <= set(best_entity["Metrics"])
    view = requests.get(f"{remote_workspace.endpoint}/api/runs/{run.id}/view", timeout=30).json()
    (panel,) = [s for s in view["Steps"] if s["Name"] == "automl_module"]
    assert panel["ProgressText"].startswith(f"{len(shown)} child runs: {len(shown)} finished; best {best.id}")

    again = requests.post(published.endpoint, json={"ExperimentName": experiment_name}, timeout=30)
    rerun = PipelineRun(Experiment(remote_workspace, experiment_name), again.json()["Id"])
    assert rerun.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    (reused,) = rerun.find_step_run("automl_module")
    assert reused.is_reused and reused.get_best_child().id == best.id


def test_trial_rows_are_rewritten_in_place_and_a_new_attempt_starts_without_the_old_ones(
        workspace: Workspace, tmp_path: Path) -> None:
    """The store's side of the child rows: FLAML's trial log becomes rows as it grows, a poll and the end
    write a trial once, and a retried step (a new search) starts from no children."""
    import uuid

    from pipeline_core.engine.automl_records import TrialRows
    from pipeline_core.engine.services import services_for
    from pipeline_core.storage.metric_store import MetricStore

    services = services_for(workspace.storage)
    rid = uuid.uuid4().hex
    services.runs.create_run(rid, "automl-rows", {"graph_id": "none"}, [("search", {}), ("use", {})])
    (tmp_path / "flaml").mkdir()
    trial_log = tmp_path / "flaml" / "trials.jsonl"
    record = {"record_id": 0, "learner": "lgbm", "config": {"n_estimators": 4}, "trial_time": 0.5,
              "logged_metric": {"AUC_weighted": 0.9, "accuracy": float("nan")}}
    trial_log.write_text(json.dumps(record) + "\n" + '{"record_id": 1, "lear')  # the second still being written
    rows = TrialRows(services, rid, "search", tmp_path, "classification", "AUC_weighted")
    rows.poll()
    state = services.runs.get_state(rid)
    assert list(state.steps) == ["search", "use"]
    (child,) = state.steps["search"]["child_runs"]
    assert (child["name"], child["status"]) == ("search_0", "Finished")
    assert child["parameters"] == {"model": "LightGBM", "n_estimators": 4}
    assert state.steps["search"]["search"]["best_child_run"] == f"{rid}_search_0"
    assert MetricStore(services.account).metrics(rid)["search_0"] == {"AUC_weighted": 0.9}  # NaN left out

    trial = {"iteration": 1, "algorithm": "RandomForest", "estimator": "rf", "hyperparameters": {},
             "metrics": {"AUC_weighted": 0.95}, "duration_seconds": 1.0}
    rows.finish({"task": "classification", "primary_metric": "AUC_weighted",
                 "trials": [{**trial, "iteration": 0, "algorithm": "LightGBM"}, trial]})
    children = services.runs.get_children(rid, "search")
    assert [c["name"] for c in children] == ["search_0", "search_1"]
    assert services.runs.get_step(rid, "search")["search"]["best_child_run"] == f"{rid}_search_1"
    assert services.runs.delete_children(rid, "search") == 2
    assert "child_runs" not in services.runs.get_state(rid).steps["search"]
