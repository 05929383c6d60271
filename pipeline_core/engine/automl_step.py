"""The executor of ``AutoMLStep``: the search in a supervised process, then its outputs and child runs.

What is particular to AutoML (the rest is the ``StepContext``'s): the training data are the step's
tabular inputs, read in the training process with the dataset's format and transformations; the
search runs in ``engine.automl_worker`` under ``execution.process`` (log streamed, stopped on cancel
or at the step's time limit), so the host's worker stays responsive; then each ``TrainingOutput`` is
written as one file, the trials are the step's child runs (rows written as each trial ends,
``engine.automl_records``) and the best child's metrics are logged as the step's own, as AML's AutoML parent run reports them.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline_core.engine.automl_records import TrialRows, save_model
from pipeline_core.engine.automl_worker import ERROR_FILE, MODEL_FILE, RESULT_FILE, USER_ERROR_EXIT
from pipeline_core.engine.step_context import StepContext
from pipeline_core.errors import AmliteError
from pipeline_core.execution.binding import resolved_dataset
from pipeline_core.execution.process import STOPPED_SUPERSEDED, run_process
from pipeline_core.execution.step_settings import step_settings
from pipeline_core.runcontext.values import SCALAR
from pipeline_core.storage.metric_store import MetricStore
from pipeline_core.storage.run_store import CANCELED, FINISHED

#: The file each kind of TrainingOutput is written to inside its output (``path_on_datastore`` names it).
OUTPUT_FILES = {"Model": "model.pkl", "Metrics": "metrics.json"}
#: The share of the step's time limit a search may use when its experiment timeout is longer: the rest
#: is for starting, reading the data and writing the outputs.
LIMIT_SHARE = 0.9


def spec_problems(step: dict[str, Any]) -> list[tuple[str, str]]:
    """The AutoMLStep entry's own checks (the SDK builds it right; a posted spec may say anything)."""
    automl = step.get("automl")
    if not isinstance(automl, dict) or not isinstance(automl.get("settings"), dict):
        return [("automl", "an AutoMLStep needs automl.settings, the AutoMLConfig's arguments")]
    problems: list[tuple[str, str]] = []
    given = step.get("inputs")
    inputs: list[Any] = given if isinstance(given, list) else []
    for field in ("training_data", "validation_data"):
        token = automl.get(field)
        if token is None and field == "validation_data":
            continue
        if not isinstance(token, dict) or token.get("data") not in inputs:
            problems.append((f"automl.{field}", f"{field} must name one of the step's inputs ({{'data': id}})"))
    given_outputs = step.get("outputs")
    declared: list[Any] = given_outputs if isinstance(given_outputs, list) else []
    outputs = step.get("training_outputs")
    if not isinstance(outputs, dict) or any(not isinstance(v, dict) or v.get("type") not in OUTPUT_FILES
                                            for v in outputs.values()):
        problems.append(("training_outputs", "each output of an AutoMLStep needs a TrainingOutput type, "
                                             "'Model' or 'Metrics'"))
    elif any(d not in declared for d in outputs):
        problems.append(("training_outputs", "training_outputs must name the step's outputs"))
    return problems


def _epoch(timestamp: Any) -> float:
    """The step row's ``start_time`` (ISO, UTC) as seconds since the epoch; now if it cannot be read."""
    try:
        return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError):
        return time.time()


def _tabular(ctx: StepContext, token: dict[str, Any], paths: dict[str, Path], what: str) -> dict[str, Any]:
    """How the training process reads input ``token``: the downloaded path and the dataset's definition."""
    data_id = token["data"]
    entry = ctx.spec.data[data_id]
    read_as = (ctx.step.get("tabular_inputs") or {}).get(data_id)
    if entry["kind"] == "dataset":
        resolved = resolved_dataset(entry, ctx.parameters)
        if resolved.get("dataset_type", "tabular") != "tabular":
            raise AmliteError(f"{what} {data_id!r} is a FileDataset; AutoML trains on a TabularDataset")
        definition = resolved["definition"]
    elif read_as is not None:
        definition = {"paths": [], **read_as}
    else:
        raise AmliteError(f"{what} {data_id!r} is not tabular; read the upstream output as a table "
                          "(.read_delimited_files() / .read_parquet_files())")
    return {"definition": definition, "path": str(paths[data_id])}


def run_automl(ctx: StepContext) -> dict[str, Any]:
    """The executor: download the data, run the search in its supervised process, then write what it found.

    The experiment timeout is the budget of the whole step (its clock started when the row went
    Running), cut to 90 % of the step's time limit when longer, so the search ends on its own before
    the limit would stop it. A user's mistake (exit code 2, ``error.json``) fails the step at once,
    without the retries ``set_retry`` gives an infrastructure failure.
    """
    settings = step_settings()
    timeout, limit = ctx.timeout(settings)
    automl = ctx.step["automl"]
    outputs = ctx.output_folders()
    paths = ctx.download_inputs()
    minutes = automl["settings"].get("experiment_timeout_minutes")
    hours = automl["settings"].get("experiment_timeout_hours")
    budget = float(minutes) * 60 if minutes else float(hours) * 3600 if hours else 6 * 24 * 3600.0
    if budget > timeout * LIMIT_SHARE:
        ctx.log.note(f"[amlite] the experiment timeout ({budget:g} s) is longer than the step may run ({limit}); "
                     f"the search gets {timeout * LIMIT_SHARE:g} s")
        budget = timeout * LIMIT_SHARE
    out = ctx.work / "automl"
    out.mkdir()
    job = {"settings": automl["settings"], "budget_seconds": budget, "started_epoch": _epoch(ctx.row.get("start_time")),
           "training": _tabular(ctx, automl["training_data"], paths, "training_data"),
           "validation": (_tabular(ctx, automl["validation_data"], paths, "validation_data")
                          if automl.get("validation_data") else None),
           "out": str(out)}
    (ctx.work / "job.json").write_text(json.dumps(job))
    argv = [sys.executable, "-u", "-m", "pipeline_core.engine.automl_worker", str(ctx.work / "job.json")]
    ctx.log.note(f"[amlite] AutoML step {ctx.name!r} of run {ctx.run_id}: budget {budget:g} s")
    if ctx.services.runs.delete_children(ctx.run_id, ctx.name):  # a retry: its search's trials replace these
        ctx.log.note("[amlite] the child runs of the previous attempt were removed; this attempt searches again")
    rows = TrialRows(ctx.services, ctx.run_id, ctx.name, out, str(automl["settings"].get("task") or ""),
                     automl["settings"].get("primary_metric"))

    def should_stop() -> str | None:  # the watch's half-second tick also writes the trials ended since the last
        rows.poll()
        return ctx.stop_reason()

    result = run_process(argv, ctx.work, ctx.environment(paths), ctx.log, timeout=timeout,
                         grace=settings.stop_grace_seconds, should_stop=should_stop)
    rows.poll()  # a trial that ended after the last tick (a canceled or failed search keeps its children too)
    if result.stopped == STOPPED_SUPERSEDED:
        return ctx.await_newer_attempt(timeout)
    if result.canceled:
        return ctx.end(CANCELED, {"outputs": ctx.upload_outputs(), "exit_code": result.exit_code,
                                  "error": {"message": "canceled while training"}})
    if result.timed_out:
        message = f"the AutoML search timed out after {timeout:g} s ({limit}); its processes were stopped"
        ctx.raise_if_retries_left(message)
        return ctx.fail(message, ctx.upload_outputs(), exit_code=result.exit_code, timed_out=True)
    if result.exit_code != 0:
        error = out / ERROR_FILE
        if result.exit_code == USER_ERROR_EXIT and error.is_file():  # the user's mistake: no retry helps
            refused = json.loads(error.read_text())
            return ctx.fail(f"AutoML {refused['type']}: {refused['message']}", ctx.upload_outputs(),
                            exit_code=result.exit_code)
        tail = ctx.log.stderr_text()
        ctx.raise_if_retries_left(f"the AutoML training process exited with code {result.exit_code}")
        return ctx.fail(f"the AutoML training process exited with code {result.exit_code}"
                        + (f"; last lines of stderr:\n{tail}" if tail else ""), ctx.upload_outputs(),
                        exit_code=result.exit_code, stderr_tail=tail)
    ctx.log.note(f"[amlite] the search process ended {time.time() - job['started_epoch']:.1f} s after the step "
                 "started")
    document = json.loads((out / RESULT_FILE).read_text())
    rows.finish(document)
    return _finish(ctx, document, (out / MODEL_FILE).read_bytes(), outputs, job["started_epoch"])


def _finish(ctx: StepContext, document: dict[str, Any], model: bytes, outputs: dict[str, Path],
            started_epoch: float) -> dict[str, Any]:
    """Write each TrainingOutput's file, keep the model, log the best metrics, finish (the child rows exist)."""
    from pipeline_core.train.automl.exceptions import ConfigException

    parent = f"{ctx.run_id}_{ctx.name}"
    save_model(ctx.services, ctx.run_id, ctx.name, model)
    automl_run = _automl_run(document, parent)
    problems: list[str] = []
    for data_id, wanted in (ctx.step.get("training_outputs") or {}).items():
        target = outputs[data_id] / OUTPUT_FILES[wanted["type"]]
        if wanted["type"] == "Metrics":
            target.write_text(json.dumps(automl_run.metrics_document()))
            continue
        try:
            chosen = (automl_run.get_best_child(wanted.get("metric")) if wanted.get("iteration") is None else
                      next((c for c in automl_run.get_children() if c.iteration == wanted["iteration"]), None))
        except ConfigException as exc:
            problems.append(f"output {data_id!r}: {exc}")
            continue
        if chosen is None or chosen.iteration != automl_run.best_iteration:
            shown = f"iteration {wanted['iteration']}" if chosen is None else f"iteration {chosen.iteration}"
            problems.append(f"output {data_id!r}: TrainingOutput asks for the model of {shown}, but only the best "
                            f"model (iteration {automl_run.best_iteration}) is kept; drop iteration/metric from "
                            "the TrainingOutput or choose them from the metrics output")
            continue
        target.write_bytes(model)
    best = automl_run.get_best_child()
    MetricStore(ctx.services.account).add(ctx.run_id, ctx.name, [
        {"name": name, "kind": SCALAR, "value": value, "seq": "automl-best"} for name, value in best.metrics.items()])
    ctx.log.note(f"[amlite] {len(document['trials'])} child runs; best {best.id} ({best.algorithm}): "
                 f"{document['primary_metric']}={best.metrics.get(document['primary_metric'])}; outputs written "
                 f"{time.time() - started_epoch:.1f} s after the step started")
    uploaded = ctx.upload_outputs()
    for data_id, wanted in (ctx.step.get("training_outputs") or {}).items():  # each output is its file (AML)
        if uploaded.get(data_id, {}).get("count"):
            ctx.output_is_file(data_id, OUTPUT_FILES[wanted["type"]])
    summary = {"kind": "automl", "task": document["task"], "primary_metric": document["primary_metric"],
               "best_child_run_id": best.id, "best_iteration": document["best_iteration"],
               "child_runs": len(document["trials"]), "stop_reason": document["stop_reason"],
               "elapsed_seconds": round(float(document["elapsed_seconds"]), 3),
               "time_budget_seconds": document["time_budget_seconds"], "validation": document.get("validation"),
               # HyperDrive's keys too: the run view and `amlite show` print both kinds' searches alike
               "children": len(document["trials"]), "statuses": {FINISHED: len(document["trials"])},
               "best_child_run": best.id, "best_primary_metric": best.metrics.get(document["primary_metric"])}
    if problems:
        return ctx.fail("; ".join(problems), dict(ctx.outputs), search=summary)
    return ctx.finish(search=summary)


def _automl_run(document: dict[str, Any], parent: str) -> Any:
    """The search as an ``AutoMLRun`` (without its model: the host never unpickles it, nor loads FLAML)."""
    from pipeline_core.train.automl.run import AutoMLChildRun, AutoMLRun

    children = [AutoMLChildRun(id=f"{parent}_{t['iteration']}", iteration=int(t["iteration"]),
                               algorithm=t["algorithm"], metrics=dict(t["metrics"]), parent_run_id=parent)
                for t in document["trials"]]
    return AutoMLRun(None, parent, children=children, task=document["task"],
                     primary_metric=document["primary_metric"], best_iteration=int(document["best_iteration"]))
