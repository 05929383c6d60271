"""What every step shares: a name, ordering (``run_after``), and the data it touches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline_core.spec_types import Token

#: What ``spec_fields`` gets: turns a step's value (a PipelineParameter, PipelineData, dataset, literal...)
#: into the spec's argument token, registering the data or parameter it names; ``where`` names it in errors.
SpecToken = Callable[[Any, str], "Token | None"]


class PipelineStep:
    """Base of all steps. Subclasses fill ``inputs``, ``outputs`` and ``arguments`` and give a ``step_type``.

    ``step_type`` is the spec's ``type``: a step kind registered under that name
    (``pipeline_core.engine.step_kinds``) runs it. What a kind needs beyond the shared
    fields goes into its spec entry through ``spec_fields``.
    """

    step_type = "abstract"

    def __init__(self, name: str, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 arguments: list[Any] | None = None, allow_reuse: bool = True):
        self.name = name
        self._inputs = list(inputs or [])
        self._outputs = list(outputs or [])
        self._arguments = list(arguments or [])
        self.allow_reuse = allow_reuse
        self._run_after: list[PipelineStep] = []
        self._retry: dict[str, float] | None = None
        for output in self._outputs:
            _claim(output, self)

    def run_after(self, step: PipelineStep) -> None:
        """Run this step only after ``step`` has finished (AML v1), whether or not data links them."""
        if step is self:
            raise ValueError(f"step {self.name!r} cannot run after itself")
        if step not in self._run_after:
            self._run_after.append(step)

    def set_retry(self, max_attempts: int = 3, first_retry_interval_seconds: float = 5.0,
                  backoff_coefficient: float = 2.0) -> PipelineStep:
        """amlite extension (AML v1 has no step retry): rerun a failed step up to ``max_attempts`` times.

        Attempt ``n`` that fails is followed, after ``first_retry_interval_seconds *
        backoff_coefficient ** (n - 1)`` seconds (at most an hour), by attempt ``n + 1``: a durable
        timer in the orchestrator, so no worker waits. Every attempt's log overwrites the previous
        one and the step row counts the attempts.
        """
        if int(max_attempts) < 1:
            raise ValueError(f"step {self.name!r}: set_retry max_attempts must be at least 1")
        if first_retry_interval_seconds <= 0:
            raise ValueError(f"step {self.name!r}: set_retry first_retry_interval_seconds must be positive")
        self._retry = {"max_attempts": int(max_attempts),
                       "first_retry_interval_ms": int(first_retry_interval_seconds * 1000),
                       "backoff_coefficient": float(backoff_coefficient)}
        return self

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        """The step kind's own fields of its spec entry (the builder adds them to name, type, data and params).

        ``token(value, where)`` turns a value into an argument token (and declares the data
        or parameter it names), so a kind's settings may hold PipelineParameters and data.
        A step with a ``script_name`` also gets ``script_name``, ``snapshot`` and ``recorded``.
        """
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _claim(output: Any, step: PipelineStep) -> None:
    """Remember which steps list ``output`` as theirs, so a pipeline can be closed over from its last step."""
    producers = getattr(output, "_producers", None)
    if producers is None:
        try:
            output._producers = [step]
        except AttributeError:
            return
    elif step not in producers:
        producers.append(step)
