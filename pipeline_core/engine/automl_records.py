"""Where an AutoMLStep's child runs (trials) and best model are kept, and the ``AutoMLRun`` read back from them.

Each trial is a child run of the step, as a HyperDrive trial is: a ``step:{step}_{iteration}`` row of
the run with ``parent_step`` set (``storage.run_store``), its parameters the trial's model and
hyperparameters, its metrics (AML's names) in the metric store under the child's name. So
``StepRun.get_children()``, REST's ``ChildRuns`` (``?metrics=true``) and the run view show them as
they show HyperDrive's, and the child id is AML's ``{step run id}_{iteration}``. Why rows now: a state
query of one step names its rows (``get_state(steps=...)``), so a search's hundreds of child rows are
read only by views of the whole run, which want them.

Rows are written while the search runs (``TrialRows.poll``, from FLAML's trial log, which FLAML flushes
per trial) and made exact when it ends (``TrialRows.finish``, from the worker's result document).
The step row keeps the summary (``search``: task, primary metric, best iteration, stop reason); the
best model is a blob beside the step's log (``logs/{run id}/{step}/automl/model.pkl``), so
``get_output()`` works whatever outputs the step declared. A reused step answers with the records of
the run it reused.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import NotFoundError
from pipeline_core.execution.logs import LOGS_CONTAINER
from pipeline_core.runcontext.values import SCALAR
from pipeline_core.storage.metric_store import MetricStore
from pipeline_core.storage.run_store import FINISHED, step_key, utcnow

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services
    from pipeline_core.train.automl.run import AutoMLRun

log = logging.getLogger("amlite.automl")

MODEL_FILE = "model.pkl"
#: The parameter holding a trial's model (AML's ``run_algorithm``); the others are its hyperparameters.
MODEL_PARAMETER = "model"
#: The metric store's sequence of a trial's metrics: one value per name, rewritten in place by ``finish``.
METRIC_SEQ = "automl-trial"


def records_prefix(run_id: str, step: str) -> str:
    return f"{run_id}/{step}/automl"


def child_name(step: str, iteration: int) -> str:
    """A trial's child run name: its run id is ``{pipeline run id}_{step}_{iteration}``, AML's child id."""
    return f"{step}_{iteration}"


def save_model(services: Services, run_id: str, step: str, model: bytes) -> None:
    """Keep the best model of step ``step`` of run ``run_id`` (idempotent: overwrites)."""
    services.account.container(LOGS_CONTAINER).upload_blob(
        f"{records_prefix(run_id, step)}/{MODEL_FILE}", model, overwrite=True)


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(v)}


def _model_name(task: str, estimator: str) -> str:
    from pipeline_core.train.automl.names import aml_model_name

    try:
        return aml_model_name(task, estimator)
    except KeyError:  # a task the config will refuse: the worker's error says so
        return estimator


class TrialRows:
    """Writes an AutoMLStep's trials as child rows (and their metrics) as each trial ends.

    ``poll`` is called from the step's watch (every half second while the search process runs) and
    never raises: a child row is worth a log line, not the step. Upserts, so a retried step (a new
    search in the same rows) and ``finish`` rewrite rows rather than fail on them.
    """

    def __init__(self, services: Services, run_id: str, step: str, out: Path, task: str, primary_metric: str | None):
        self.services, self.run_id, self.step, self.out, self.task = services, run_id, step, out, task
        self.primary_metric = primary_metric
        self.written = 0
        self._scores: dict[int, float] = {}  # iteration -> primary metric, for the step row's running summary
        self._offset = 0
        self._log: Path | None = None

    def poll(self) -> None:
        try:
            self._read()
        except Exception as exc:  # noqa: BLE001 - a log being written, a storage hiccup: next poll or finish
            log.warning("AutoML step %s of run %s: child rows not written yet: %s", self.step, self.run_id, exc)

    def _read(self) -> None:
        if self._log is None:
            self._log = next(iter(self.out.glob("*/trials.jsonl")), None)
            if self._log is None:
                return
        try:
            with open(self._log) as handle:
                handle.seek(self._offset)
                text = handle.read()
        except FileNotFoundError:  # the search ended and removed its log: ``finish`` writes what is left
            return
        complete = text[:text.rfind("\n") + 1]
        trials: list[dict[str, Any]] = []
        for line in complete.splitlines():
            record = json.loads(line)
            if "record_id" in record:
                trials.append({"iteration": self.written + len(trials), "estimator": record["learner"],
                               "algorithm": _model_name(self.task, record["learner"]),
                               "hyperparameters": record.get("config") or {},
                               "metrics": _finite(record.get("logged_metric") or {}),
                               "duration_seconds": float(record.get("trial_time") or 0.0)})
        if trials:
            self.write(trials)
        self._offset += len(complete)
        self.written += len(trials)

    def write(self, trials: list[dict[str, Any]]) -> None:
        """Upsert the child rows of ``trials`` (the result document's shape) and their metrics."""
        now = time.time()
        end = utcnow()
        children: list[tuple[str, dict[str, Any]]] = []
        metrics: list[tuple[str, dict[str, Any]]] = []
        for trial in trials:
            name = child_name(self.step, int(trial["iteration"]))
            started = now - float(trial.get("duration_seconds") or 0.0)
            parameters = json.loads(json.dumps({MODEL_PARAMETER: trial["algorithm"], **trial["hyperparameters"]},
                                               default=_json_default))
            children.append((name, {"index": int(trial["iteration"]), "status": FINISHED, "end_time": end,
                                    "start_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)) + "Z",
                                    "parameters": parameters}))
            metrics += [(name, {"name": n, "kind": SCALAR, "value": v, "seq": METRIC_SEQ})
                        for n, v in trial["metrics"].items()]
        store = MetricStore(self.services.account)  # metrics first: a row is never shown without its metrics
        for name in dict.fromkeys(n for n, _ in metrics):
            store.add(self.run_id, name, [m for n, m in metrics if n == name])
        self.services.runs.put_children(self.run_id, self.step, children)
        for trial in trials:
            score = trial["metrics"].get(self.primary_metric or "")
            if score is not None:
                self._scores[int(trial["iteration"])] = float(score)
        self.services.runs.update(self.run_id, step_key(self.step), {"search": self.summary(len(children))})

    def summary(self, count: int | None = None) -> dict[str, Any]:
        """The step row's ``search`` while the search runs: HyperDrive's keys, so the run view's line reads alike."""
        from pipeline_core.train.automl.names import METRICS

        info = METRICS.get(self.task, {}).get(self.primary_metric or "")  # type: ignore[call-overload]
        n = max(self.written + (count or 0), len(self._scores))
        found: dict[str, Any] = {"kind": "automl", "children": n, "statuses": {FINISHED: n},
                                 "primary_metric": self.primary_metric}
        if info is not None and self._scores:
            sign = -1 if info.maximize else 1
            best = min(self._scores, key=lambda i: (sign * self._scores[i], i))
            found.update(best_child_run=f"{self.run_id}_{child_name(self.step, best)}",
                         best_primary_metric=self._scores[best])
        return found

    def finish(self, document: dict[str, Any]) -> None:
        """Write the trials the polls had not seen from the worker's result document.

        The polls read the same FLAML log lines the trainer turns into the document's trials (the same
        count, the same order), so only the tail is missing; it is written before the step ends.
        """
        self.task, self.primary_metric = document["task"], document["primary_metric"]
        missing = document["trials"][self.written:]
        if missing:
            self.write(missing)
            self.written += len(missing)


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _origin(run_id: str, row: dict[str, Any]) -> tuple[str, str]:
    """(run id, step name) of the run that trained: the step's own, or the run a reused step reused."""
    if row.get("is_reused") and row.get("reused_run_id"):
        return str(row["reused_run_id"]), str(row.get("reused_step") or row["name"])
    return run_id, str(row["name"])


def load_automl_run(services: Services, experiment: Any, run_id: str, row: dict[str, Any],
                    step_run_id: str | None = None) -> AutoMLRun:
    """The ``AutoMLRun`` of an AutoMLStep's row: its children (the child rows), best child, the model's loader."""
    from pipeline_core.train.automl.run import AutoMLChildRun, AutoMLRun

    if row.get("status") != FINISHED:
        raise NotFoundError(f"AutoML step {row.get('name')!r} of run {run_id} is {row.get('status')}: its child "
                            "runs and model exist once it has Finished")
    origin_run, origin_step = _origin(run_id, row)
    own = (origin_run, origin_step) == (run_id, row["name"]) and "search" in row  # a REST row has no ``search``
    origin = row if own else services.runs.get_step(origin_run, origin_step)
    search = origin.get("search") or {}
    if search.get("kind") != "automl":
        raise NotFoundError(f"step {origin_step!r} of run {origin_run} has no AutoML search; was it an "
                            "AutoMLStep that finished?")
    rows = services.runs.get_children(origin_run, origin_step)
    metrics = MetricStore(services.account).metrics(origin_run) if rows else {}
    parent = f"{origin_run}_{origin_step}"
    children = []
    for child in rows:
        parameters = dict(child.get("parameters") or {})
        algorithm = str(parameters.pop(MODEL_PARAMETER, ""))
        children.append(AutoMLChildRun(
            id=f"{origin_run}_{child['name']}", iteration=int(child.get("index") or 0), algorithm=algorithm,
            metrics=_finite(metrics.get(child["name"], {})), hyperparameters=parameters,
            status=str(child.get("status")), parent_run_id=parent))
    container = services.account.container(LOGS_CONTAINER)
    prefix = records_prefix(origin_run, origin_step)

    def model() -> Any:
        return pickle.loads(container.download_blob(f"{prefix}/{MODEL_FILE}").readall())

    return AutoMLRun(experiment, step_run_id or parent, children=children, task=search.get("task"),
                     primary_metric=search.get("primary_metric"), best_iteration=int(search["best_iteration"]),
                     model_loader=model, properties={"stop_reason": search.get("stop_reason"),
                                                     "validation": search.get("validation")})


def find_step_run(services: Services, step_run_id: str) -> tuple[str, dict[str, Any]]:
    """(pipeline run id, step row) of a step run id ``{pipeline run id}_{step name}`` (either may hold ``_``)."""
    cut = step_run_id.find("_")
    while cut != -1:
        run_id, step = step_run_id[:cut], step_run_id[cut + 1:]
        try:
            return run_id, services.runs.get_step(run_id, step)
        except Exception:  # noqa: BLE001 - not this split: try the next underscore
            pass
        cut = step_run_id.find("_", cut + 1)
    raise NotFoundError(f"no step run {step_run_id!r}: give the id of an AutoMLStep's run "
                        "(pipeline_run.find_step_run(name)[0].id)")
