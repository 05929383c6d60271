"""``AutoMLRun`` (AML's ``azureml.train.automl.run.AutoMLRun``): a parent run over its child runs.

A child run is one trial, named ``{parent run id}_{iteration}`` as AML names them, with the trial's
AML metrics (in a pipeline, read from the step's child rows: ``engine.automl_records``). Only the best trial's fitted model is kept (AML keeps every child's; a search here can
be hundreds of quick trials), so ``get_output`` for another iteration or metric says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline_core.train.automl.exceptions import ConfigException
from pipeline_core.train.automl.names import METRICS

if TYPE_CHECKING:  # the trainer loads pandas and scikit-learn; reading a run's records needs neither
    from pipeline_core.train.automl.trainer import AutoMLResult, Trial


@dataclass(frozen=True)
class AutoMLChildRun:
    """One trial as a child run: its id, status, algorithm and metrics (AML's property names)."""

    id: str
    iteration: int
    algorithm: str
    metrics: Mapping[str, float]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    status: str = "Completed"
    parent_run_id: str = ""

    @property
    def properties(self) -> dict[str, str]:
        return {"iteration": str(self.iteration), "run_algorithm": self.algorithm,
                "run_preprocessor": "FLAML DataTransformer"}

    def get_metrics(self, name: str | None = None) -> dict[str, float]:
        if name is not None:
            return {name: self.metrics[name]} if name in self.metrics else {}
        return dict(self.metrics)

    def get_properties(self) -> dict[str, str]:
        return self.properties

    def get_status(self) -> str:
        return self.status

    def get_parameters(self) -> dict[str, Any]:
        """The trial's model and hyperparameters, as its child row and REST's ``ChildRuns`` show them."""
        return {"model": self.algorithm, **self.hyperparameters}

    def get_details(self) -> dict[str, Any]:
        return {"runId": self.id, "status": self.status, "parentRunId": self.parent_run_id,
                "properties": {**self.properties, "hyperparameters": dict(self.hyperparameters)}}

    @classmethod
    def from_trial(cls, parent_run_id: str, trial: Trial) -> AutoMLChildRun:
        return cls(id=f"{parent_run_id}_{trial.iteration}", iteration=trial.iteration, algorithm=trial.algorithm,
                   metrics=dict(trial.metrics), hyperparameters=dict(trial.hyperparameters),
                   parent_run_id=parent_run_id)


class AutoMLRun:
    """An AutoML parent run: its children, the best child by any metric, and the best fitted model."""

    def __init__(self, experiment: Any, run_id: str, *, children: Iterable[AutoMLChildRun] = (),
                 task: str | None = None, primary_metric: str | None = None, best_iteration: int | None = None,
                 model_loader: Callable[[], Any] | None = None, **kwargs: Any):
        self.experiment = experiment
        self.id = run_id
        self.run_id = run_id
        self._children = sorted(children, key=lambda c: c.iteration)
        self.task = task
        self.primary_metric = primary_metric
        self.best_iteration = best_iteration
        self._model_loader = model_loader
        self.properties: dict[str, Any] = {"primary_metric": primary_metric, "task_type": task,
                                           **kwargs.get("properties", {})}
        # AML's AutoMLRun(experiment, run_id): the run of an AutoMLStep, read from the workspace on first use.
        self._pending = not self._children and task is None and model_loader is None and \
            getattr(experiment, "workspace", None) is not None

    def _load(self) -> None:
        """Read the step run ``self.id`` (``{pipeline run id}_{step}``) from the experiment's workspace."""
        if not self._pending:
            return
        from pipeline_core.engine.automl_records import find_step_run, load_automl_run
        from pipeline_core.engine.services import services_for

        services = services_for(self.experiment.workspace.storage)
        run_id, row = find_step_run(services, self.id)
        loaded = load_automl_run(services, self.experiment, run_id, row, self.id)
        self._children, self.task, self.primary_metric = loaded._children, loaded.task, loaded.primary_metric
        self.best_iteration, self._model_loader = loaded.best_iteration, loaded._model_loader
        self.properties.update(loaded.properties)
        self._pending = False

    @classmethod
    def from_result(cls, experiment: Any, run_id: str, result: AutoMLResult) -> AutoMLRun:
        """The run of a training that just finished in this process."""
        return cls(experiment, run_id, children=[AutoMLChildRun.from_trial(run_id, t) for t in result.trials],
                   task=result.task, primary_metric=result.primary_metric, best_iteration=result.best_iteration,
                   model_loader=lambda: result.fitted_model)

    def get_children(self, *args: Any, **kwargs: Any) -> list[AutoMLChildRun]:
        self._load()
        return list(self._children)

    def get_metrics(self, name: str | None = None) -> dict[str, float]:
        """The parent reports the best child's metrics, as AML's parent run does."""
        best = self._best(None)
        return best.get_metrics(name) if best else {}

    def get_best_child(self, metric: str | None = None, onnx_compatible: bool = False, **kwargs: Any) -> AutoMLChildRun:
        best = self._best(metric)
        if best is None:
            raise ConfigException(f"no child run of {self.id} reported {metric or self.primary_metric!r}")
        return best

    def _best(self, metric: str | None) -> AutoMLChildRun | None:
        self._load()
        if metric is None and self.best_iteration is not None:
            return next((c for c in self._children if c.iteration == self.best_iteration), None)
        name = metric or self.primary_metric
        if name is None or self.task is None:
            return None
        info = METRICS[self.task].get(name)
        if info is None:
            raise ConfigException(f"{name!r} is not a {self.task} metric; use one of "
                                  f"{', '.join(METRICS[self.task])}")
        scored = [c for c in self._children if math.isfinite(c.metrics.get(name, math.nan))]
        if not scored:
            return None
        sign = -1 if info.maximize else 1
        return min(scored, key=lambda c: (sign * c.metrics[name], c.iteration))

    def get_output(self, iteration: int | None = None, metric: str | None = None, return_onnx_model: bool = False,
                   return_split_onnx_model: Any = None, **kwargs: Any) -> tuple[AutoMLChildRun, Any]:
        """``(best_run, fitted_model)``; by ``iteration`` or ``metric`` when the kept model is that child's."""
        if iteration is not None and metric is not None:
            raise ConfigException("get_output takes iteration or metric, not both")
        self._load()
        if return_onnx_model:
            raise ConfigException("ONNX models are not produced here (enable_onnx_compatible_models is ignored); "
                                  "call get_output() for the pickled scikit-learn compatible model")
        if iteration is not None:
            chosen = next((c for c in self._children if c.iteration == iteration), None)
            if chosen is None:
                raise ConfigException(f"run {self.id} has no iteration {iteration}; it has "
                                      f"{[c.iteration for c in self._children]}")
        else:
            chosen = self.get_best_child(metric)
        if chosen.iteration != self.best_iteration:
            raise ConfigException(f"only the best model (iteration {self.best_iteration}) is kept; iteration "
                                  f"{chosen.iteration} was not saved. Its metrics are on get_children().")
        if self._model_loader is None:
            raise ConfigException(f"run {self.id} has no model to load")
        return chosen, self._model_loader()

    def metrics_document(self) -> dict[str, dict[str, list[float]]]:
        """The ``TrainingOutput(type="Metrics")`` file's content: ``{child run id: {metric: [value]}}`` (AML's)."""
        self._load()
        return {c.id: {name: [value] for name, value in c.metrics.items()} for c in self._children}

    def summary(self) -> list[dict[str, Any]]:
        """Per algorithm: how many iterations ran and the best primary metric among them."""
        self._load()
        rows: dict[str, dict[str, Any]] = {}
        info = METRICS[self.task][self.primary_metric] if self.task and self.primary_metric else None
        for child in self._children:
            row = rows.setdefault(child.algorithm, {"algorithm": child.algorithm, "iterations": 0, "best": None})
            row["iterations"] += 1
            value = child.metrics.get(self.primary_metric or "", math.nan)
            if info and math.isfinite(value) and (row["best"] is None or (value > row["best"]) == info.maximize):
                row["best"] = value
        return list(rows.values())
