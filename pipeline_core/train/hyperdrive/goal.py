"""``PrimaryMetricGoal``: whether the primary metric is to be maximised or minimised."""

from __future__ import annotations

from enum import Enum


class PrimaryMetricGoal(str, Enum):
    """AML's two goals; the values are AML's wire strings."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @classmethod
    def from_str(cls, goal: str) -> PrimaryMetricGoal:
        try:
            return cls(goal.upper())
        except ValueError:
            raise ValueError(f"primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or MINIMIZE, got {goal!r}") from None

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a > b if self is PrimaryMetricGoal.MAXIMIZE else a < b

    def best(self, values: list[float]) -> float:
        return max(values) if self is PrimaryMetricGoal.MAXIMIZE else min(values)
