"""Early termination policies and the pure decision: which running trials to stop now.

A trial's *interval* is the number of times it has logged the primary metric: its n-th value is its
value at interval n. A policy is applied to a trial when it reaches an interval that is a multiple of
``evaluation_interval`` and at least ``delay_evaluation`` (AML's rule), comparing it with every trial
(running or finished) that has reached the same interval. The rules are AML's documented ones:

- Bandit: stop a trial whose best value so far is not within the slack of the best trial's at that
  interval; maximising, ``value < best / (1 + slack_factor)`` or ``value < best - slack_amount``;
  minimising, ``value > best * (1 + slack_factor)`` or ``value > best + slack_amount``.
- Median stopping: stop a trial whose best value so far is worse than the median of all trials'
  running averages at that interval.
- Truncation selection: stop a trial whose value at that interval is in the lowest
  ``truncation_percentage`` percent of all trials' values there (finished trials left out of the
  ranking when ``exclude_finished_jobs``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from pipeline_core.train.hyperdrive.exceptions import HyperDriveConfigException
from pipeline_core.train.hyperdrive.goal import PrimaryMetricGoal


def _interval_args(kind: str, evaluation_interval: int, delay_evaluation: int) -> None:
    if isinstance(evaluation_interval, bool) or not isinstance(evaluation_interval, int) or evaluation_interval < 1:
        raise HyperDriveConfigException(f"{kind}: evaluation_interval must be an integer of at least 1, "
                                        f"got {evaluation_interval!r}")
    if isinstance(delay_evaluation, bool) or not isinstance(delay_evaluation, int) or delay_evaluation < 0:
        raise HyperDriveConfigException(f"{kind}: delay_evaluation must be an integer of 0 or more, "
                                        f"got {delay_evaluation!r}")


class EarlyTerminationPolicy:
    """Base class: when a policy looks (``evaluation_interval``, ``delay_evaluation``)."""

    policy_name = ""

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0):
        _interval_args(type(self).__name__, evaluation_interval, delay_evaluation)
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation

    def evaluates_at(self, interval: int) -> bool:
        return interval >= 1 and interval % self.evaluation_interval == 0 and interval >= self.delay_evaluation

    def to_aml(self) -> dict:
        return {"name": self.policy_name, "properties": {"evaluation_interval": self.evaluation_interval,
                                                          "delay_evaluation": self.delay_evaluation}}


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Every trial runs to completion."""

    policy_name = "Default"

    def __init__(self) -> None:
        super().__init__()

    def evaluates_at(self, interval: int) -> bool:
        return False

    def to_aml(self) -> dict:
        return {"name": self.policy_name, "properties": {}}


class BanditPolicy(EarlyTerminationPolicy):
    policy_name = "Bandit"

    def __init__(self, slack_factor: float | None = None, slack_amount: float | None = None,
                 evaluation_interval: int = 1, delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise HyperDriveConfigException(
                "BanditPolicy: give exactly one of slack_factor or slack_amount, e.g. BanditPolicy(slack_factor=0.1)")
        slack = slack_factor if slack_factor is not None else slack_amount
        if isinstance(slack, bool) or not isinstance(slack, int | float) or slack <= 0:
            name = "slack_factor" if slack_factor is not None else "slack_amount"
            raise HyperDriveConfigException(f"BanditPolicy: {name} must be a number greater than 0, got {slack!r}")
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def to_aml(self) -> dict:
        recorded = super().to_aml()
        if self.slack_factor is not None:
            recorded["properties"]["slack_factor"] = self.slack_factor
        else:
            recorded["properties"]["slack_amount"] = self.slack_amount
        return recorded

    def threshold(self, best: float, goal: PrimaryMetricGoal) -> float:
        """The worst value that survives, given the best trial's value."""
        maximize = goal is PrimaryMetricGoal.MAXIMIZE
        if self.slack_factor is not None:
            return best / (1 + self.slack_factor) if maximize else best * (1 + self.slack_factor)
        assert self.slack_amount is not None
        return best - self.slack_amount if maximize else best + self.slack_amount


class MedianStoppingPolicy(EarlyTerminationPolicy):
    policy_name = "MedianStopping"


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    policy_name = "TruncationSelection"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0,
                 exclude_finished_jobs: bool = False):
        super().__init__(evaluation_interval, delay_evaluation)
        if isinstance(truncation_percentage, bool) or not isinstance(truncation_percentage, int) \
                or not 1 <= truncation_percentage <= 99:
            raise HyperDriveConfigException("TruncationSelectionPolicy: truncation_percentage must be an integer "
                                            f"from 1 to 99, got {truncation_percentage!r}")
        self.truncation_percentage = truncation_percentage
        self.exclude_finished_jobs = exclude_finished_jobs

    def to_aml(self) -> dict:
        recorded = super().to_aml()
        recorded["properties"].update(truncation_percentage=self.truncation_percentage,
                                      exclude_finished_jobs=self.exclude_finished_jobs)
        return recorded


@dataclass(frozen=True)
class Termination:
    """A decision to stop one trial, with the reason its run records."""

    run_id: str
    interval: int
    reason: str


def trials_to_terminate(policy: EarlyTerminationPolicy | None, goal: PrimaryMetricGoal,
                        series: Mapping[str, Sequence[float]], running: Collection[str]) -> list[Termination]:
    """Which of the ``running`` trials the policy stops now, from every trial's logged primary metric.

    ``series`` maps each trial (running or finished) to its primary metric values in logging order.
    Each running trial is judged at its latest interval, if the policy evaluates there. The answer
    depends on the arguments alone, so a replayed or repeated evaluation decides the same.
    """
    if policy is None or isinstance(policy, NoTerminationPolicy):
        return []
    stopped = []
    for run_id in sorted(running):
        interval = len(series.get(run_id, ()))
        if not policy.evaluates_at(interval):
            continue
        peers = {r: list(v[:interval]) for r, v in series.items() if len(v) >= interval}
        reason = _judge(policy, goal, run_id, interval, peers, running)
        if reason:
            stopped.append(Termination(run_id, interval, reason))
    return stopped


def _judge(policy: EarlyTerminationPolicy, goal: PrimaryMetricGoal, run_id: str, interval: int,
           peers: dict[str, list[float]], running: Collection[str]) -> str | None:
    mine = goal.best(peers[run_id])
    if isinstance(policy, BanditPolicy):
        best = goal.best([goal.best(v) for v in peers.values()])
        threshold = policy.threshold(best, goal)
        if goal.better(threshold, mine):
            return (f"BanditPolicy at interval {interval}: best value {mine:g} is outside the slack of the best "
                    f"trial's {best:g} (threshold {threshold:g})")
        return None
    if isinstance(policy, MedianStoppingPolicy):
        median = statistics.median(statistics.fmean(v) for v in peers.values())
        if goal.better(median, mine):
            return (f"MedianStoppingPolicy at interval {interval}: best value {mine:g} is worse than the median "
                    f"{median:g} of the running averages")
        return None
    if isinstance(policy, TruncationSelectionPolicy):
        ranked = {r: v[-1] for r, v in peers.items() if not policy.exclude_finished_jobs or r in running}
        cut = math.floor(len(ranked) * policy.truncation_percentage / 100)
        if cut == 0:
            return None
        if goal is PrimaryMetricGoal.MINIMIZE:
            worst = sorted(ranked, key=lambda r: (-ranked[r], r))  # worst (largest) first
        else:
            worst = sorted(ranked, key=lambda r: (ranked[r], r))
        if run_id in worst[:cut]:
            return (f"TruncationSelectionPolicy at interval {interval}: value {peers[run_id][-1]:g} is in the lowest "
                    f"{policy.truncation_percentage}% of the {len(ranked)} trials there")
        return None
    raise HyperDriveConfigException(f"unknown early termination policy {type(policy).__name__}")
