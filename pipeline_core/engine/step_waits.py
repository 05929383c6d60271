"""What ``pipeline_run`` waits on between two plans, and whether that wait needs a refill timer. Pure.

Why here and not in the orchestrator: the timer decision depends on which tasks are new at a
wait, which are older, and which may be slow to notice a cancel; it must replay the same way on
every episode. Kept as plain state (tasks are opaque keys), the orchestrator only yields, as with
``RunTracker`` and ``planner``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_core.parallel.fanout import needs_timer


@dataclass
class StepWaits:
    """The step tasks in flight (a task -> the steps it runs: one, or a chunk's), and the cancel event's age."""

    waiting: dict[Any, list[str]] = field(default_factory=dict)
    #: Waiting tasks with a step that may not end within a second of a cancel (a retry backoff, a poll).
    slow_to_cancel: set[Any] = field(default_factory=set)
    _cancel_event_new: bool = True  # new at the first wait, like the first steps
    _before: int = 0

    def start_round(self) -> None:
        """Mark what waits now as old: the tasks added next are the new ones of the coming wait."""
        self._before = len(self.waiting)

    def add(self, task: Any, names: list[str], ends_on_cancel: bool) -> None:
        self.waiting[task] = names
        if not ends_on_cancel:
            self.slow_to_cancel.add(task)

    def tasks(self) -> list[Any]:
        return list(self.waiting)

    def ended(self, task: Any) -> list[str]:
        """The steps ``task`` ran; it waits no longer."""
        self.slow_to_cancel.discard(task)
        return self.waiting.pop(task)

    def needs_timer(self, cancel_waits: bool) -> bool:
        """Whether this round's wait needs a timer due now (``cancel_waits``: the cancel event is waited on too).

        The extension awaits only the tasks new at a yield (see ``parallel.fanout``): without the timer a
        step that ends before the new ones would go unnoticed (and its dependents unstarted) until they end.
        An old cancel event beside steps that all end on a cancel is no such older task: a cancel also flags
        the run's row, which each of them reads within a second and ends on, which resumes the wait. So a
        chain (one new step beside the old event) waits with no timer: one stored episode fewer a step.
        """
        cancel_new = cancel_waits and self._cancel_event_new
        self._cancel_event_new = False
        counted = cancel_waits and (cancel_new or bool(self.slow_to_cancel))
        return needs_timer(len(self.waiting) - self._before + int(cancel_new), len(self.waiting) + int(counted))
