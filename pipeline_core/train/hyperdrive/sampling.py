"""Hyperparameter sampling (Random, Grid, Bayesian) and the pure function that draws the next trials.

Random and grid sampling are deterministic under a seed and depend only on how many trials were
already issued, so an orchestrator that replays, or an activity that is redelivered, draws the same
parameters again. Bayesian sampling uses Optuna's TPE sampler (a well-kept, widely used
implementation of the Bayesian optimisation AML's service runs): the finished trials are replayed
into a fresh in-memory study on every call, so the call is a function of its inputs too.
"""

from __future__ import annotations

import itertools
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_core.train.hyperdrive.exceptions import HyperDriveConfigException
from pipeline_core.train.hyperdrive.goal import PrimaryMetricGoal
from pipeline_core.train.hyperdrive.parameter_expressions import ParameterExpression

#: The expressions each sampling accepts (AML's documented limits).
GRID_EXPRESSIONS = frozenset({"choice"})
BAYESIAN_EXPRESSIONS = frozenset({"choice", "uniform", "quniform"})


class HyperParameterSampling:
    """Base class: a parameter space of ``{name: expression}`` and AML's free-form properties."""

    sampling_name = ""
    supported: frozenset[str] | None = None

    def __init__(self, parameter_space: Mapping[str, ParameterExpression], properties: Mapping[str, Any] | None = None):
        kind = type(self).__name__
        if not isinstance(parameter_space, Mapping) or not parameter_space:
            raise HyperDriveConfigException(
                f"{kind}: parameter_space must be a non-empty dict of {{name: expression}}, "
                "e.g. {'--learning_rate': uniform(0.01, 0.1)}")
        for name, expression in parameter_space.items():
            if not isinstance(name, str) or not name.strip("-"):
                raise HyperDriveConfigException(f"{kind}: parameter name {name!r} must be a non-empty string")
            if not isinstance(expression, ParameterExpression):
                raise HyperDriveConfigException(
                    f"{kind}: parameter {name!r} must be a parameter expression such as choice(...) or "
                    f"uniform(...), got {expression!r}")
            if self.supported is not None and expression.name not in self.supported:
                allowed = ", ".join(sorted(self.supported))
                raise HyperDriveConfigException(
                    f"{kind} supports only {allowed}; parameter {name!r} uses {expression.name}. "
                    "Use RandomParameterSampling for other distributions.")
        self.parameter_space = dict(parameter_space)
        self.properties = dict(properties or {})

    @property
    def seed(self) -> int:
        """AML's ``properties={"rndseed": n}``; 0 when unset, so sampling is always reproducible."""
        return int(self.properties.get("rndseed", 0))

    def to_aml(self) -> dict[str, Any]:
        """The run's recorded form of the search space (AML's ``generator_config``)."""
        return {"name": self.sampling_name,
                "parameter_space": {k: v.to_aml() for k, v in self.parameter_space.items()},
                "properties": dict(self.properties)}


class RandomParameterSampling(HyperParameterSampling):
    """Every expression kind; each trial draws independently."""

    sampling_name = "RANDOM"


class GridParameterSampling(HyperParameterSampling):
    """Every combination of ``choice`` values, in the order the dict and the choices list them."""

    sampling_name = "GRID"
    supported = GRID_EXPRESSIONS

    def __init__(self, parameter_space: Mapping[str, ParameterExpression]):
        super().__init__(parameter_space)

    @property
    def size(self) -> int:
        return math.prod(len(e.args) for e in self.parameter_space.values())

    def grid(self) -> list[dict[str, Any]]:
        names = list(self.parameter_space)
        return [dict(zip(names, values))
                for values in itertools.product(*(self.parameter_space[n].args for n in names))]


class BayesianParameterSampling(HyperParameterSampling):
    """``choice``, ``uniform`` and ``quniform`` only, and no early termination policy (as in AML)."""

    sampling_name = "BAYESIANOPTIMIZATION"
    supported = BAYESIAN_EXPRESSIONS

    def __init__(self, parameter_space: Mapping[str, ParameterExpression]):
        super().__init__(parameter_space)


def next_parameter_sets(sampling: HyperParameterSampling, count: int, *,
                        issued: Sequence[Mapping[str, Any]] = (),
                        completed: Sequence[tuple[Mapping[str, Any], float]] = (),
                        goal: PrimaryMetricGoal = PrimaryMetricGoal.MAXIMIZE,
                        seed: int | None = None) -> list[dict[str, Any]]:
    """The parameters of the next ``count`` trials (fewer once a grid is exhausted).

    ``issued`` are the parameter sets handed out so far (running or finished), ``completed`` the
    finished ones with their primary metric value. Random and grid sampling read only
    ``len(issued)``; Bayesian sampling learns from ``completed`` and treats the rest as running.
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    seed = sampling.seed if seed is None else seed
    start = len(issued)
    if isinstance(sampling, GridParameterSampling):
        return sampling.grid()[start:start + count]
    if isinstance(sampling, BayesianParameterSampling):
        return _bayesian(sampling, count, issued, completed, goal, seed)
    return [_random_set(sampling, seed, start + k) for k in range(count)]


def _random_set(sampling: HyperParameterSampling, seed: int, index: int) -> dict[str, Any]:
    import numpy as np  # here, not at import: every pipeline definition imports this module (cold start)

    rng = np.random.default_rng([seed, index])  # trial i's draw depends on the seed and i alone
    return {name: _plain(expression.sample(rng)) for name, expression in sampling.parameter_space.items()}


def _plain(value: Any) -> Any:
    numpy = sys.modules.get("numpy")  # a numpy value can only come from a numpy already imported
    return value.item() if numpy is not None and isinstance(value, numpy.generic) else value


def _bayesian(sampling: BayesianParameterSampling, count: int, issued: Sequence[Mapping[str, Any]],
              completed: Sequence[tuple[Mapping[str, Any], float]], goal: PrimaryMetricGoal,
              seed: int) -> list[dict[str, Any]]:
    import optuna  # imported here: only Bayesian sampling pays its import time

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = sampling.parameter_space
    distributions = {name: _distribution(optuna, e) for name, e in space.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed + len(issued), constant_liar=True)
    direction = (optuna.study.StudyDirection.MAXIMIZE if goal is PrimaryMetricGoal.MAXIMIZE
                 else optuna.study.StudyDirection.MINIMIZE)
    study = optuna.create_study(direction=direction, sampler=sampler)
    finished = [params for params, _ in completed]
    for params, value in completed:
        study.add_trial(optuna.trial.create_trial(params=_internal(space, params), distributions=distributions,
                                                  value=float(value)))
    pending = [p for p in issued if p not in finished]
    for params in pending:  # running trials: the constant liar keeps new draws away from them
        study.add_trial(optuna.trial.create_trial(params=_internal(space, params), distributions=distributions,
                                                  state=optuna.trial.TrialState.RUNNING))
    drawn = []
    for _ in range(count):
        trial = study.ask(distributions)
        drawn.append({name: _external(space[name], trial.params[name]) for name in space})
    return drawn


def _distribution(optuna: Any, expression: ParameterExpression) -> Any:
    if expression.name == "choice":  # by index: choices may be any value, Optuna's must be primitives
        return optuna.distributions.CategoricalDistribution(list(range(len(expression.args))))
    low, high = float(expression.args[0]), float(expression.args[1])
    return optuna.distributions.FloatDistribution(low, high)


def _internal(space: Mapping[str, ParameterExpression], params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters as Optuna's distributions hold them (choice index; a value clamped to its bounds)."""
    out: dict[str, Any] = {}
    for name, expression in space.items():
        value = params[name]
        if expression.name == "choice":
            out[name] = expression.args.index(value)
        else:
            out[name] = min(max(float(value), float(expression.args[0])), float(expression.args[1]))
    return out


def _external(expression: ParameterExpression, value: Any) -> Any:
    if expression.name == "choice":
        return expression.args[int(value)]
    if expression.name == "quniform":
        return round(float(value) / expression.args[2]) * expression.args[2]
    return float(value)
