"""``StepSequence``: AML v1's way to order steps that share no data."""

from __future__ import annotations

from typing import Any

from pipeline_core.pipeline.steps.base import PipelineStep


class StepSequence:
    """Steps in order; a nested list is a group that runs in parallel after the previous entry."""

    def __init__(self, steps: list[Any] | None = None):
        if not steps:
            raise ValueError("StepSequence needs steps=[...] with at least one step")
        self.groups: list[list[PipelineStep]] = []
        for entry in steps:
            group = list(entry) if isinstance(entry, (list, tuple)) else [entry]
            for step in group:
                if not isinstance(step, PipelineStep):
                    raise ValueError(f"StepSequence entries must be steps or lists of steps, not {step!r}")
            self.groups.append(group)
        for before, after in zip(self.groups, self.groups[1:], strict=False):
            for step in after:
                for previous in before:
                    step.run_after(previous)

    @property
    def steps(self) -> list[PipelineStep]:
        return [step for group in self.groups for step in group]
