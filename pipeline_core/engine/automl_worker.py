"""The AutoMLStep's training process: ``python -m pipeline_core.engine.automl_worker job.json``.

Why a process of its own: a search holds the CPU for its whole budget and loads FLAML, LightGBM and
XGBoost; in the worker's process it would starve the host's other activities and could not be
stopped. Here it runs supervised like a script step (``execution.process``): its output streams into
the step log, a cancel or the step's time limit ends it and every process below it.

The job file (written by ``engine.automl_step``) names the config's settings, where the downloaded
training (and validation) data are and how to read them, the budget, and when the step started
(so the time spent before training counts against ``experiment_timeout_minutes``, as AML's clock
covers the whole experiment). The process writes into ``out``: ``model.pkl`` (the best fitted model,
pickled) and ``result.json`` (every trial), or ``error.json`` with a user's mistake (exit code 2).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

#: Exit code of a training refused for the user's input (the message is in error.json).
USER_ERROR_EXIT = 2
#: The part of the budget kept back for what follows the search: pickling the model, leaving the process,
#: writing the outputs and child runs (measured on a loaded 2-core machine: 0.2-0.3 s since the process
#: leaves with ``os._exit``; 0.6-1.4 s more when it waited for the interpreter's teardown).
FINISH_RESERVE_SHARE, FINISH_RESERVE_MIN, FINISH_RESERVE_MAX = 0.01, 0.25, 30.0
RESULT_FILE, ERROR_FILE, MODEL_FILE = "result.json", "error.json", "model.pkl"


def finite(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that have a value (AML leaves a metric out of a child run when it cannot be computed)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(v)}


def _frame(data: dict[str, Any]) -> Any:
    from pipeline_core.data.tabular_dataset import StepInputTabularDataset

    return StepInputTabularDataset(data["definition"], data["path"]).to_pandas_dataframe()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train as the job says and write its files; returns the result document."""
    from pipeline_core.train.automl.config import AutoMLConfig
    from pipeline_core.train.automl.trainer import train

    out = Path(job["out"])
    settings = dict(job["settings"])
    settings.pop("experiment_timeout_hours", None)
    budget = float(job["budget_seconds"])
    reserve = min(FINISH_RESERVE_MAX, max(FINISH_RESERVE_MIN, budget * FINISH_RESERVE_SHARE))
    settings["experiment_timeout_minutes"] = max(budget - reserve, budget / 2) / 60
    training = _frame(job["training"])
    validation = _frame(job["validation"]) if job.get("validation") else None
    print(f"[automl] training data: {len(training)} rows, columns {list(training.columns)}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the config's own warnings were shown where the pipeline was built
        config = AutoMLConfig(training_data=training, validation_data=validation, **settings)
    elapsed = max(0.0, time.time() - float(job["started_epoch"]))
    print(f"[automl] task {config.task}, primary metric {config.primary_metric}, models {list(config.models)}, "
          f"budget {job['budget_seconds']:g} s ({elapsed:.1f} s spent before training)", flush=True)
    follower = _TrialFollower(out, config.task, config.primary_metric)
    follower.start()
    try:
        result = train(config, elapsed_before=elapsed, log_dir=str(out))
    finally:
        follower.stop()
    print(f"[automl] search and refit ended {time.time() - float(job['started_epoch']):.1f} s after the step "
          "started", flush=True)
    for trial in result.trials[follower.shown:]:  # those the follower had not seen when the search ended
        _print_trial(trial.iteration, trial.algorithm, result.primary_metric,
                     trial.metrics.get(result.primary_metric, math.nan), trial.duration_seconds)
    best = result.best_trial
    print(f"[automl] best: iteration {best.iteration} ({best.algorithm}), {result.primary_metric}="
          f"{best.metrics.get(result.primary_metric, math.nan):.4f}; {len(result.trials)} iterations, "
          f"{result.elapsed_seconds:.1f} s since the step started, stopped by {result.stop_reason}", flush=True)
    (out / MODEL_FILE).write_bytes(pickle.dumps(result.fitted_model, protocol=pickle.HIGHEST_PROTOCOL))
    document = {
        "task": result.task, "primary_metric": result.primary_metric, "best_iteration": result.best_iteration,
        "stop_reason": result.stop_reason, "elapsed_seconds": result.elapsed_seconds,
        "time_budget_seconds": budget, "validation": result.validation,
        "settings": result.settings,
        "trials": [{"iteration": t.iteration, "algorithm": t.algorithm, "estimator": t.estimator,
                    "hyperparameters": dict(t.hyperparameters), "metrics": finite(dict(t.metrics)),
                    "duration_seconds": t.duration_seconds} for t in result.trials]}
    (out / RESULT_FILE).write_text(json.dumps(document, default=_json_default))
    return document


def _print_trial(iteration: int, algorithm: str, metric: str, score: float, seconds: float) -> None:
    print(f"[automl] iteration {iteration}: {algorithm} {metric}={score:.4f} ({seconds:.2f} s)", flush=True)


class _TrialFollower(threading.Thread):
    """Prints each child run as FLAML records it (its trial log is flushed per trial), so the step log
    shows the search as it goes rather than at its end."""

    def __init__(self, out: Path, task: str, metric: str):
        super().__init__(name="automl-trials", daemon=True)
        self.out, self.task, self.metric = out, task, metric
        self.shown = 0
        self._stopped = threading.Event()
        self._offset = 0
        self._log: Path | None = None

    def run(self) -> None:
        while not self._stopped.wait(0.5):
            try:
                self._read()
            except (OSError, ValueError):  # the log is being written or was just removed: next time
                continue

    def _read(self) -> None:
        from pipeline_core.train.automl.names import aml_model_name

        if self._log is None:
            self._log = next(iter(self.out.glob("*/trials.jsonl")), None)
            if self._log is None:
                return
        with open(self._log) as handle:
            handle.seek(self._offset)
            text = handle.read()
        complete = text[:text.rfind("\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            if "record_id" not in record:
                continue
            score = (record.get("logged_metric") or {}).get(self.metric, math.nan)
            _print_trial(self.shown, aml_model_name(self.task, record["learner"]), self.metric, float(score),
                         float(record.get("trial_time") or 0.0))
            self.shown += 1

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def _json_default(value: Any) -> Any:
    """numpy scalars in FLAML's hyperparameters."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def main(argv: list[str]) -> int:
    from pipeline_core.exceptions import UserErrorException
    from pipeline_core.train.automl.exceptions import AutoMLTrainingException

    job = json.loads(Path(argv[1]).read_text())
    try:
        run_job(job)
    except (UserErrorException, AutoMLTrainingException) as exc:
        message = str(exc)
        Path(job["out"], ERROR_FILE).write_text(json.dumps({"type": type(exc).__name__, "message": message}))
        print(f"[automl] {type(exc).__name__}: {message}", file=sys.stderr, flush=True)
        return USER_ERROR_EXIT
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written: skip the interpreter's teardown (the estimators' thread pools take up to a
    # second or more to wind down on a loaded machine, all of it out of the experiment's budget).
    os._exit(code)
