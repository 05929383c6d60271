"""The orchestrator's memory of one run, kept pure so it replays deterministically.

``functions/orchestration.py`` only yields Durable tasks; what to schedule,
skip or cancel next, and what the custom status says, is decided here from
the results the activities returned. No I/O, no clock, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_core.engine.planner import CANCELED, FAILED, FINISHED, TERMINAL, Plan, plan, upstream_closure
from pipeline_core.engine.retry_policy import StepRetry

CANCEL_EVENT = "cancel"
#: The sub-orchestration that ran ParallelRunSteps before the step-kind registry (histories that list
#: them under ``parallel`` replay with it).
LEGACY_PARALLEL_ORCHESTRATOR = "parallel_step"
CHUNK_SIZE = 100  # more ready steps than this go out as sub-orchestrations of this size
MAX_STATUS_NAMES = 20  # custom status stays far below Durable's 16 KB limit


@dataclass
class RunTracker:
    run_id: str
    deps: dict[str, list[str]]
    continue_on_step_failure: bool = False
    cancel_requested: bool = False
    retry: dict[str, dict[str, Any]] = field(default_factory=dict)
    # step -> the sub-orchestration that runs it (its kind's orchestration: engine/step_kinds.py); the
    # other steps run as one run_step activity each
    orchestrators: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    cancel_sent: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    # The graph's transitive dependencies, computed at the first plan of a replay rather than at every one.
    _upstream: dict[str, set[str]] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_start(cls, run_id: str, info: dict[str, Any]) -> RunTracker:
        return cls(run_id=run_id, deps=info["deps"],
                   continue_on_step_failure=bool(info.get("continue_on_step_failure")),
                   cancel_requested=bool(info.get("cancel_requested")), retry=info.get("retry") or {},
                   orchestrators=orchestrators_from(info))

    def orchestrator_of(self, name: str) -> str | None:
        """The sub-orchestration that runs step ``name``, or None for a run_step activity."""
        return self.orchestrators.get(name)

    def ends_on_cancel(self, name: str) -> bool:
        """Whether step ``name`` runs as one ``run_step`` activity, which stops within a second of a cancel (a
        sub-orchestration may sit in a retry backoff or a poll interval first)."""
        retry = self.retry.get(name)
        return self.orchestrator_of(name) is None and (not retry or StepRetry.from_spec(retry) is None)

    def next_moves(self) -> Plan:
        if self._upstream is None:
            self._upstream = upstream_closure(self.deps)
        moves = plan(self.deps, self.status, self.in_flight, self.continue_on_step_failure, self.cancel_requested,
                     upstream=self._upstream)
        for name in moves.skipped:
            self.status[name] = CANCELED
        moves.to_cancel = [n for n in moves.to_cancel if n not in self.cancel_sent]
        self.cancel_sent.update(moves.to_cancel)
        self.in_flight.update(moves.ready)
        return moves

    def completed(self, name: str, result: Any) -> None:
        """Record a step's outcome: a result dict from ``run_step`` or an exception after its retries."""
        self.in_flight.discard(name)
        if isinstance(result, dict) and result.get("status") in TERMINAL:
            self.status[name] = result["status"]
            if result.get("error"):
                self.errors[name] = str(result["error"])[:500]
        else:
            self.status[name] = FAILED
            self.errors[name] = str(result)[:500]

    def completed_task(self, names: list[str], outcome: Any) -> None:
        """Record what one task answered for its steps: a step's result, or a chunk's ``{"steps": {...}}``."""
        by_step = outcome.get("steps") if isinstance(outcome, dict) and "steps" in outcome else None
        for name in names:
            self.completed(name, by_step.get(name, outcome) if by_step is not None else outcome)

    def cancel(self) -> None:
        self.cancel_requested = True

    def chunks(self, names: list[str]) -> list[list[str]]:
        return [names[i:i + CHUNK_SIZE] for i in range(0, len(names), CHUNK_SIZE)]

    def custom_status(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for value in self.status.values():
            counts[value] = counts.get(value, 0) + 1
        return {"run_id": self.run_id, "total": len(self.deps), "finished": counts.get(FINISHED, 0),
                "failed": counts.get(FAILED, 0), "canceled": counts.get(CANCELED, 0),
                "running": sorted(self.in_flight)[:MAX_STATUS_NAMES], "cancel_requested": self.cancel_requested}


def orchestrators_from(info: dict[str, Any]) -> dict[str, str]:
    """Step -> sub-orchestration from ``start_run``'s answer (or a chunk's input), old histories included.

    A run started before the registry recorded ``"parallel": [names]`` in its history; its replay
    must schedule what the first episode scheduled, so those names map to ``parallel_step``.
    """
    found = {name: LEGACY_PARALLEL_ORCHESTRATOR for name in info.get("parallel") or []}
    found.update(info.get("orchestrators") or {})
    return found
