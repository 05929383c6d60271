"""HyperDrive's parameter expressions with AML v1's semantics.

Each function returns an expression, not a value: the sampling object draws values from it. The
distributions follow AML's definitions, including the ones users trip over: ``loguniform`` and
``qloguniform`` take their bounds in log space (the value is ``exp(uniform(min, max))``), ``randint``
draws from ``[0, upper)``, and the ``q*`` variants round to a multiple of ``q``
(``round(value / q) * q``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where a value is drawn: defining a pipeline must not pay for it
    import numpy as np


@dataclass(frozen=True)
class ParameterExpression:
    """One distribution: AML's name for it and its arguments, in AML's order."""

    name: str
    args: tuple[Any, ...]

    def to_aml(self) -> list[Any]:
        """AML's wire form (``["uniform", [0.05, 0.1]]``), as recorded on the run."""
        if self.name == "choice":
            return ["choice", [list(self.args)]]
        return [self.name, list(self.args)]

    def sample(self, rng: np.random.Generator) -> Any:
        a = self.args
        if self.name == "choice":
            return a[int(rng.integers(len(a)))]
        if self.name == "randint":
            return int(rng.integers(a[0]))
        if self.name == "uniform":
            return float(rng.uniform(a[0], a[1]))
        if self.name == "quniform":
            return _round_to(float(rng.uniform(a[0], a[1])), a[2])
        if self.name == "loguniform":
            return math.exp(float(rng.uniform(a[0], a[1])))
        if self.name == "qloguniform":
            return _round_to(math.exp(float(rng.uniform(a[0], a[1]))), a[2])
        if self.name == "normal":
            return float(rng.normal(a[0], a[1]))
        if self.name == "qnormal":
            return _round_to(float(rng.normal(a[0], a[1])), a[2])
        if self.name == "lognormal":
            return math.exp(float(rng.normal(a[0], a[1])))
        if self.name == "qlognormal":
            return _round_to(math.exp(float(rng.normal(a[0], a[1]))), a[2])
        raise ValueError(f"unknown parameter expression {self.name!r}")


def _round_to(value: float, q: float) -> float:
    return round(value / q) * q


def _number(name: str, **values: Any) -> None:
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name}(): {arg} must be a number, got {value!r}")


def _bounds(name: str, low: float, high: float) -> None:
    _number(name, min_value=low, max_value=high)
    if low >= high:
        raise ValueError(f"{name}(): min_value ({low}) must be less than max_value ({high})")


def _positive(name: str, arg: str, value: float) -> None:
    _number(name, **{arg: value})
    if value <= 0:
        raise ValueError(f"{name}(): {arg} must be greater than 0, got {value}")


def choice(*options: Any) -> ParameterExpression:
    """A discrete set: ``choice(1, 2, 3)``, ``choice([1, 2, 3])`` or ``choice(range(1, 5))``, as in AML."""
    values: list[Any] = []
    for option in options:
        if isinstance(option, Iterable) and not isinstance(option, str | bytes):
            values.extend(option)
        else:
            values.append(option)
    if not values:
        raise ValueError("choice() needs at least one option, e.g. choice(16, 32, 64)")
    return ParameterExpression("choice", tuple(values))


def randint(upper: int) -> ParameterExpression:
    """An integer in ``[0, upper)``."""
    if isinstance(upper, bool) or not isinstance(upper, int) or upper < 1:
        raise ValueError(f"randint(): upper must be an integer of at least 1, got {upper!r}")
    return ParameterExpression("randint", (upper,))


def uniform(min_value: float, max_value: float) -> ParameterExpression:
    _bounds("uniform", min_value, max_value)
    return ParameterExpression("uniform", (min_value, max_value))


def quniform(min_value: float, max_value: float, q: float) -> ParameterExpression:
    _bounds("quniform", min_value, max_value)
    _positive("quniform", "q", q)
    return ParameterExpression("quniform", (min_value, max_value, q))


def loguniform(min_value: float, max_value: float) -> ParameterExpression:
    """``exp(uniform(min_value, max_value))``: the bounds are natural logarithms (``loguniform(-6, -1)``)."""
    _bounds("loguniform", min_value, max_value)
    return ParameterExpression("loguniform", (min_value, max_value))


def qloguniform(min_value: float, max_value: float, q: float) -> ParameterExpression:
    _bounds("qloguniform", min_value, max_value)
    _positive("qloguniform", "q", q)
    return ParameterExpression("qloguniform", (min_value, max_value, q))


def normal(mu: float, sigma: float) -> ParameterExpression:
    _number("normal", mu=mu)
    _positive("normal", "sigma", sigma)
    return ParameterExpression("normal", (mu, sigma))


def qnormal(mu: float, sigma: float, q: float) -> ParameterExpression:
    _number("qnormal", mu=mu)
    _positive("qnormal", "sigma", sigma)
    _positive("qnormal", "q", q)
    return ParameterExpression("qnormal", (mu, sigma, q))


def lognormal(mu: float, sigma: float) -> ParameterExpression:
    """``exp(normal(mu, sigma))``."""
    _number("lognormal", mu=mu)
    _positive("lognormal", "sigma", sigma)
    return ParameterExpression("lognormal", (mu, sigma))


def qlognormal(mu: float, sigma: float, q: float) -> ParameterExpression:
    _number("qlognormal", mu=mu)
    _positive("qlognormal", "sigma", sigma)
    _positive("qlognormal", "q", q)
    return ParameterExpression("qlognormal", (mu, sigma, q))
