"""``HyperDriveConfig`` with AML v1's arguments and checks, and how a trial's parameters reach its script."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.train.hyperdrive.exceptions import HyperDriveConfigException
from pipeline_core.train.hyperdrive.goal import PrimaryMetricGoal
from pipeline_core.train.hyperdrive.policies import EarlyTerminationPolicy, NoTerminationPolicy
from pipeline_core.train.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
)

#: AML's bounds.
MAX_TOTAL_RUNS = 1000
MAX_CONCURRENT_RUNS = 100
DEFAULT_MAX_DURATION_MINUTES = 10080


class HyperDriveConfig:
    """A hyperparameter search: the trial script (``run_config``), the space, the metric and the limits.

    ``estimator``, ``pipeline``, ``resume_from``, ``resume_child_runs``, ``debug_flag`` and
    ``custom_run_id`` are accepted and recorded; only ``run_config`` (a ``ScriptRunConfig``) is run.
    """

    def __init__(self, hyperparameter_sampling: HyperParameterSampling, primary_metric_name: str,
                 primary_metric_goal: PrimaryMetricGoal | str, max_total_runs: int | None = None,
                 max_concurrent_runs: int | None = None, max_duration_minutes: int = DEFAULT_MAX_DURATION_MINUTES,
                 policy: EarlyTerminationPolicy | None = None, estimator: Any = None, run_config: Any = None,
                 resume_from: Any = None, resume_child_runs: Any = None, pipeline: Any = None,
                 debug_flag: Any = None, custom_run_id: str | None = None):
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise HyperDriveConfigException(
                "hyperparameter_sampling must be RandomParameterSampling, GridParameterSampling or "
                f"BayesianParameterSampling, got {type(hyperparameter_sampling).__name__}")
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise HyperDriveConfigException("primary_metric_name must name the metric the trial script logs "
                                            "with run.log(), e.g. 'accuracy'")
        try:
            goal = PrimaryMetricGoal.from_str(primary_metric_goal)
        except (ValueError, AttributeError):
            raise HyperDriveConfigException("primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or "
                                            f"PrimaryMetricGoal.MINIMIZE, got {primary_metric_goal!r}") from None
        if run_config is None:
            raise HyperDriveConfigException("HyperDriveConfig needs run_config=ScriptRunConfig(source_directory=..., "
                                            "script=...): the script each trial runs"
                                            + (" (estimator is deprecated in AML and not run here)"
                                               if estimator is not None else ""))
        if not getattr(run_config, "script", None):
            raise HyperDriveConfigException("run_config must be a ScriptRunConfig with a script, "
                                            "e.g. ScriptRunConfig(source_directory='src', script='train.py')")
        if isinstance(hyperparameter_sampling, GridParameterSampling) and max_total_runs is None:
            max_total_runs = min(hyperparameter_sampling.size, MAX_TOTAL_RUNS)
        _bounded("max_total_runs", max_total_runs, MAX_TOTAL_RUNS)
        if max_concurrent_runs is not None:
            _bounded("max_concurrent_runs", max_concurrent_runs, MAX_CONCURRENT_RUNS)
        _bounded("max_duration_minutes", max_duration_minutes, DEFAULT_MAX_DURATION_MINUTES)
        if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
            raise HyperDriveConfigException("policy must be BanditPolicy, MedianStoppingPolicy, "
                                            f"TruncationSelectionPolicy or NoTerminationPolicy, got {policy!r}")
        if isinstance(hyperparameter_sampling, BayesianParameterSampling) and policy is not None \
                and not isinstance(policy, NoTerminationPolicy):
            raise HyperDriveConfigException("Bayesian sampling does not support early termination policies: "
                                            "pass policy=None (or NoTerminationPolicy()), or use "
                                            "RandomParameterSampling with this policy")
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = goal
        self.max_total_runs: int = max_total_runs  # type: ignore[assignment]  # _bounded checked it
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy or NoTerminationPolicy()
        self.run_config = run_config
        self.ignored = {k: v for k, v in {"estimator": estimator, "pipeline": pipeline, "resume_from": resume_from,
                                          "resume_child_runs": resume_child_runs, "debug_flag": debug_flag,
                                          "custom_run_id": custom_run_id}.items() if v is not None}
        for name in self.ignored:
            warn_ignored(f"HyperDriveConfig({name}=...)")

    @property
    def concurrency(self) -> int:
        """How many trials run at once: ``max_concurrent_runs``, or all of them when unset (AML)."""
        return min(self.max_concurrent_runs or self.max_total_runs, self.max_total_runs)

    def to_aml(self) -> dict[str, Any]:
        """What the run records about the search (AML's names)."""
        return {"generator_config": self.hyperparameter_sampling.to_aml(),
                "policy_config": self.policy.to_aml(),
                "primary_metric_config": {"name": self.primary_metric_name, "goal": self.primary_metric_goal.value},
                "max_total_jobs": self.max_total_runs, "max_concurrent_jobs": self.concurrency,
                "max_duration_minutes": self.max_duration_minutes,
                "ignored": sorted(self.ignored)}


def _bounded(name: str, value: Any, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        raise HyperDriveConfigException(f"{name} must be an integer from 1 to {upper}, got {value!r}")


def trial_arguments(arguments: Sequence[Any], parameters: Mapping[str, Any]) -> list[Any]:
    """A trial's script arguments: the ScriptRunConfig's, then each sampled value as ``--name value``.

    As in AML, a parameter named ``--learning_rate`` is passed verbatim and a bare ``learning_rate``
    as ``--learning_rate``; appended last, so argparse lets the sampled value win over a default
    given in ``arguments``. Other argument objects (data references) are left for the step to bind.
    """
    out = list(arguments)
    for name, value in parameters.items():
        out += [name if name.startswith("-") else f"--{name}", _format(value)]
    return out


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
