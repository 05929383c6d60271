"""``HyperDriveRun`` / ``HyperDriveStepRun``: a finished or running search read from its child-run records.

The records are plain data (``TrialRecord``), so the same ranking serves a local run, a remote one
and the step that writes the best run's metrics as its ``TrainingOutput``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline_core.status import RunStatus
from pipeline_core.train.hyperdrive.goal import PrimaryMetricGoal

FAILED_STATUSES = frozenset({RunStatus.FAILED})
CANCELED_STATUSES = frozenset({RunStatus.CANCELED, RunStatus.CANCEL_REQUESTED})


@dataclass(frozen=True)
class TrialRecord:
    """One child run of a search: its parameters, status and logged metrics (name -> values in order)."""

    run_id: str
    parameters: Mapping[str, Any]
    status: str
    metrics: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    resumed_from: str | None = None

    def best_metric(self, name: str, goal: PrimaryMetricGoal) -> float | None:
        values = [float(v) for v in self.metrics.get(name, ()) if isinstance(v, int | float) and not isinstance(v, bool)]
        return goal.best(values) if values else None


def sorted_by_primary_metric(trials: Iterable[TrialRecord], metric_name: str, goal: PrimaryMetricGoal, *,
                             include_failed: bool = True, include_canceled: bool = True,
                             include_resume_from_runs: bool = True) -> list[tuple[TrialRecord, float]]:
    """The trials that logged the metric, best first (ties by run id, so the order is stable)."""
    ranked = []
    for trial in trials:
        if (not include_failed and trial.status in FAILED_STATUSES) \
                or (not include_canceled and trial.status in CANCELED_STATUSES) \
                or (not include_resume_from_runs and trial.resumed_from):
            continue
        value = trial.best_metric(metric_name, goal)
        if value is not None:
            ranked.append((trial, value))
    sign = -1 if goal is PrimaryMetricGoal.MAXIMIZE else 1
    return sorted(ranked, key=lambda pair: (sign * pair[1], pair[0].run_id))


class HyperDriveRun:
    """A HyperDrive search run (AML's ``azureml.train.hyperdrive.HyperDriveRun``) over its child runs.

    ``children`` are the trial records; the step kind fills them from the run store.
    """

    def __init__(self, experiment: Any, run_id: str, hyperdrive_config: Any = None, *,
                 children: Iterable[TrialRecord] = (), primary_metric_name: str | None = None,
                 primary_metric_goal: PrimaryMetricGoal | str | None = None):
        self.experiment = experiment
        self.id = run_id
        self.hyperdrive_config = hyperdrive_config
        self._children = list(children)
        self.primary_metric_name = primary_metric_name or getattr(hyperdrive_config, "primary_metric_name", None)
        goal = primary_metric_goal or getattr(hyperdrive_config, "primary_metric_goal", None)
        if not self.primary_metric_name or goal is None:
            raise ValueError("HyperDriveRun needs the primary metric: pass hyperdrive_config, or "
                             "primary_metric_name and primary_metric_goal")
        self.primary_metric_goal = PrimaryMetricGoal.from_str(goal)

    def get_children(self) -> list[TrialRecord]:
        return list(self._children)

    def get_hyperparameters(self) -> dict[str, dict[str, Any]]:
        """Each child run's parameters, by run id (AML returns them as JSON strings; here as dicts)."""
        return {t.run_id: dict(t.parameters) for t in self._children}

    def get_metrics(self) -> dict[str, dict[str, Any]]:
        """Each child run's metrics, by run id; a metric logged once is its value, else the list (AML)."""
        return {t.run_id: {k: (v[0] if len(v) == 1 else list(v)) for k, v in t.metrics.items()}
                for t in self._children}

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict[str, Any]]:
        """AML's rows (``run_id``, ``hyperparameters``, ``best_primary_metric``, ``status``), best first."""
        ranked = sorted_by_primary_metric(self._children, self.primary_metric_name or "", self.primary_metric_goal)
        rows = [{"run_id": t.run_id, "hyperparameters": dict(t.parameters), "best_primary_metric": v,
                 "status": t.status} for t, v in ranked]
        if not discard_no_metric:
            ranked_ids = {t.run_id for t, _ in ranked}
            rows += [{"run_id": t.run_id, "hyperparameters": dict(t.parameters), "best_primary_metric": None,
                      "status": t.status} for t in self._children if t.run_id not in ranked_ids]
        if reverse:
            rows.reverse()
        return rows[:top] if top else rows

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> TrialRecord | None:
        """The child run with the best value of the primary metric, or None when none logged it."""
        ranked = sorted_by_primary_metric(self._children, self.primary_metric_name or "", self.primary_metric_goal,
                                          include_failed=include_failed, include_canceled=include_canceled,
                                          include_resume_from_runs=include_resume_from_runs)
        return ranked[0][0] if ranked else None


class HyperDriveStepRun(HyperDriveRun):
    """A HyperDriveStep's step run (AML's ``azureml.pipeline.steps.HyperDriveStepRun``)."""

    def __init__(self, step_run: Any = None, *, experiment: Any = None, run_id: str | None = None,
                 hyperdrive_config: Any = None, children: Iterable[TrialRecord] = (),
                 primary_metric_name: str | None = None, primary_metric_goal: PrimaryMetricGoal | str | None = None):
        super().__init__(experiment if experiment is not None else getattr(step_run, "experiment", None),
                         run_id or str(getattr(step_run, "id", "")), hyperdrive_config, children=children,
                         primary_metric_name=primary_metric_name, primary_metric_goal=primary_metric_goal)
        self.step_run = step_run
