"""One step of a HyperDrive search as a pure decision: which trials to start, which to cancel, done or not.

The step kind calls ``decide`` whenever a trial logs a metric or ends, with every trial's record, and
carries out the answer (start child runs with ``trial_arguments``, cancel the named ones). Given the
same records it answers the same, so a replay or a redelivered activity repeats the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline_core.status import RunStatus
from pipeline_core.train.hyperdrive.config import HyperDriveConfig
from pipeline_core.train.hyperdrive.policies import Termination, trials_to_terminate
from pipeline_core.train.hyperdrive.run import TrialRecord
from pipeline_core.train.hyperdrive.sampling import next_parameter_sets

#: Statuses of a trial that still holds a concurrency slot.
ACTIVE_STATUSES = frozenset({RunStatus.NOT_STARTED, RunStatus.QUEUED, "Preparing", "Starting", "Provisioning",
                             RunStatus.RUNNING, "Finalizing", RunStatus.CANCEL_REQUESTED})


@dataclass(frozen=True)
class SearchDecision:
    start: list[dict[str, Any]] = field(default_factory=list)
    cancel: list[Termination] = field(default_factory=list)
    finished: bool = False
    reason: str = ""


def decide(config: HyperDriveConfig, trials: Sequence[TrialRecord], *, elapsed_minutes: float = 0.0) -> SearchDecision:
    """The next move of the search, from its trials in the order they were started."""
    metric, goal = config.primary_metric_name, config.primary_metric_goal
    active = {t.run_id for t in trials if t.status in ACTIVE_STATUSES}
    if elapsed_minutes >= config.max_duration_minutes:
        cancel = [Termination(r, 0, f"max_duration_minutes ({config.max_duration_minutes}) reached")
                  for r in sorted(active) if _status(trials, r) != RunStatus.CANCEL_REQUESTED]
        return SearchDecision(cancel=cancel, finished=not active, reason="max_duration_minutes reached")
    series = {t.run_id: [float(v) for v in t.metrics.get(metric, ())] for t in trials}
    running = {r for r in active if _status(trials, r) != RunStatus.CANCEL_REQUESTED}
    cancel = trials_to_terminate(config.policy, goal, series, running)
    still_active = len(active) - len(cancel)
    room = min(config.concurrency - still_active, config.max_total_runs - len(trials))
    completed = [(dict(t.parameters), best) for t in trials
                 if t.status == "Completed" and (best := t.best_metric(metric, goal)) is not None]
    start = next_parameter_sets(config.hyperparameter_sampling, max(room, 0),
                                issued=[dict(t.parameters) for t in trials], completed=completed, goal=goal)
    finished = still_active == 0 and not start
    reason = ""
    if finished:
        reason = "max_total_runs reached" if len(trials) >= config.max_total_runs else "search space exhausted"
    return SearchDecision(start=start, cancel=cancel, finished=finished, reason=reason)


def _status(trials: Sequence[TrialRecord], run_id: str) -> str:
    return next(t.status for t in trials if t.run_id == run_id)


def metrics_document(trials: Sequence[TrialRecord]) -> dict[str, dict[str, list[Any]]]:
    """The ``TrainingOutput(type="Metrics")`` file's content: ``{child run id: {metric: [values]}}``, as AML writes."""
    return {t.run_id: {name: list(values) for name, values in t.metrics.items()} for t in trials}
