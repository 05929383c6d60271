"""The generic CHILD_RUNS orchestration: a step that fans out child runs (HyperDrive trials) and judges them.

Why generic: a search over child runs (a hyperparameter search, and later any kind shaped like it)
needs the same machinery whatever decides what to run next: child rows in the run store, one
activity per child, metric reads, cancel, the step's end. The kind supplies only its decisions
(``ChildRunsPlan``): which children to start, which to stop, when it is done, what the step writes.

How the Durable sub-orchestrator (``functions/child_runs.py``, ``CHILD_RUNS_ORCHESTRATOR``) drives it,
each activity idempotent and each answer a small dict:

``child_runs_prepare(services, run_id, step)``
    The step preamble (early result, refusal, reuse, Running): ``{"done": True, "result"}`` or ``{"done": False}``.
``child_runs_next(services, run_id, step)``
    Reads the children and their logged metrics, asks the kind, records the new children (NotStarted)
    and the ones to stop (CancelRequested): ``{"start": [child names], "finished", "reason",
    "wait_seconds"}``. A cancel of the run or of the step stops every child instead.
``run_child(services, run_id, step, child)``
    One child run to its end (the kind's ``run_child``); answers ``{"child", "status"}``.
``child_runs_finish(services, run_id, step, reason)``
    The kind writes the step's outputs and ends it (Canceled when the run or step was canceled).

A child run is a ``step:{child}`` row of the run with ``parent_step`` set (``storage.run_store``):
the run context (``Run.get_context()`` inside it), the cancel checks and the metric store address it
like a step; ``get_state`` lists it on its step's row, never among the steps.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError

from pipeline_core.engine.services import Services
from pipeline_core.engine.step_context import StepContext, is_cancel_requested, stop_reason
from pipeline_core.engine.step_kinds import CHILD_RUNS_ORCHESTRATOR, _resolve, step_kind
from pipeline_core.errors import AmliteError
from pipeline_core.execution.logs import LOGS_CONTAINER, log_blob_name
from pipeline_core.storage.metric_store import MetricStore
from pipeline_core.storage.run_signals import SIGNALS
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    NOT_STARTED,
    QUEUED,
    RUNNING,
    TERMINAL,
    InvalidTransition,
    step_key,
    utcnow,
)

log = logging.getLogger("amlite.child_runs")

#: Statuses in which a child still holds a slot (its activity has not answered yet).
ACTIVE = frozenset({NOT_STARTED, QUEUED, RUNNING, CANCEL_REQUESTED})


@dataclass(frozen=True)
class ChildRun:
    """One child run as the kind sees it: its row's fields and the metrics it logged (name -> values)."""

    name: str
    index: int
    status: str
    parameters: Mapping[str, Any]
    metrics: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def run_id_suffix(self) -> str:
        return self.name


@dataclass(frozen=True)
class ChildMoves:
    """A kind's answer: children to start (their parameters), children to stop (name, reason), done or not.

    ``wait_seconds``: how long the orchestrator may wait for a child to end before asking again (a
    durable timer), so a policy can judge children while they run; None waits for a child to end.
    """

    start: list[dict[str, Any]] = field(default_factory=list)
    cancel: list[tuple[str, str]] = field(default_factory=list)
    finished: bool = False
    reason: str = ""
    wait_seconds: float | None = None


class ChildRunsPlan(Protocol):
    """What a CHILD_RUNS kind supplies (``StepKind(children="module:object")``)."""

    def child_name(self, step: str, index: int) -> str:
        """The child run's name (its AML run id is ``{pipeline run id}_{name}``)."""

    def next_moves(self, ctx: StepContext, children: list[ChildRun], elapsed_seconds: float) -> ChildMoves:
        """The next move of the search; a pure function of its arguments (a redelivery repeats it)."""

    def run_child(self, ctx: StepContext, child: dict[str, Any], attempt: int) -> tuple[str, dict[str, Any]]:
        """Run one child to its end: (status, fields of its row such as ``error``)."""

    def finish(self, ctx: StepContext, children: list[ChildRun], reason: str) -> dict[str, Any]:
        """Write the step's outputs and end it (``ctx.end``/``ctx.fail``); the step result."""


def plan_for(ctx: StepContext) -> ChildRunsPlan:
    kind = step_kind(ctx.step.get("type"))
    plan: ChildRunsPlan = _resolve(kind.children, f"the child-run plan of step kind {kind.type!r}")
    return plan


def note(services: Services, run_id: str, step: str, text: str) -> None:
    """Append lines to a step's (or child's) ``std_log.txt``, creating it on first use; never fails the step."""
    blob = services.account.container(LOGS_CONTAINER).get_blob_client(log_blob_name(run_id, step))
    data = (text.rstrip("\n") + "\n").encode()
    try:
        with contextlib.suppress(ResourceExistsError):
            blob.create_append_blob(match_condition=MatchConditions.IfMissing)
        blob.append_block(data)
        SIGNALS.changed(run_id)
    except Exception as exc:  # a log line is never worth failing a step
        log.warning("could not append to the log of %s: %s", step, exc)


def read_children(services: Services, run_id: str, step: str) -> list[ChildRun]:
    """The step's child runs with their logged metrics, in the order they were started."""
    rows = services.runs.get_children(run_id, step)
    metrics = MetricStore(services.account).metrics(run_id) if rows else {}
    found = []
    for row in rows:
        error = row.get("error")
        found.append(ChildRun(name=row["name"], index=int(row.get("index") or 0), status=str(row.get("status")),
                              parameters=row.get("parameters") or {},
                              metrics={k: (v if isinstance(v, list) else [v])
                                       for k, v in (metrics.get(row["name"]) or {}).items()},
                              error=(error or {}).get("message") if isinstance(error, dict) else error))
    return found


def child_stop_reason(services: Services, run_id: str, step: str, child: str, attempt: int) -> str | None:
    """Why a running child must stop now, or None (``step_context.stop_reason`` over the child's row too)."""
    return stop_reason(services, run_id, step, attempt, child=child)


def search_summary(children: Sequence[ChildRun], reason: str = "", **extra: Any) -> dict[str, Any]:
    """The step row's ``search`` field: how many children, how many in each status, why it stopped."""
    counts: dict[str, int] = {}
    for child in children:
        counts[child.status] = counts.get(child.status, 0) + 1
    return {"children": len(children), "statuses": dict(sorted(counts.items())), "stop_reason": reason, **extra}


def _elapsed(row: dict[str, Any]) -> float:
    started = row.get("start_time")
    if not started:
        return 0.0
    try:
        begun = datetime.fromisoformat(str(started).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
    return max(0.0, time.time() - begun)


# -- the activities ------------------------------------------------------------------------------
def child_runs_prepare(services: Services, run_id: str, step: str) -> dict[str, Any]:
    """The step's preamble: answered early, refused, reused, or Running (a redelivery finds it Running)."""
    ctx = StepContext(services, run_id, step)
    early = ctx.early_result()
    if early is not None:
        return {"done": True, "result": early}
    if ctx.row.get("status") == RUNNING:  # a redelivered prepare: the first one began the step
        return {"done": False}
    refused = ctx.refusal()
    if refused:
        return {"done": True, "result": ctx.fail(refused)}
    try:
        inputs = ctx.input_locations()
        key, parts = ctx.reuse_key(inputs)
    except AmliteError as exc:
        return {"done": True, "result": ctx.fail(str(exc))}
    reused = ctx.try_reuse(key, parts)
    if reused is not None:
        return {"done": True, "result": reused}
    other = ctx.begin(inputs, key, parts)
    if other is not None:
        return {"done": True, "result": other}
    note(services, run_id, step, f"[amlite] step {step!r} of run {run_id}: child runs start")
    return {"done": False}


def _stop_children(services: Services, run_id: str, children: list[ChildRun], reasons: dict[str, str]) -> None:
    """NotStarted children end Canceled at once; running ones are asked to stop (their activity ends them)."""
    for child in children:
        if child.name not in reasons or child.status not in ACTIVE or child.status == CANCEL_REQUESTED:
            continue
        target = CANCELED if child.status == NOT_STARTED else CANCEL_REQUESTED
        fields: dict[str, Any] = {"error": {"message": reasons[child.name]}}
        if target == CANCELED:
            fields["end_time"] = utcnow()
        with contextlib.suppress(InvalidTransition):  # it ended meanwhile
            services.runs.transition(run_id, step_key(child.name), target, fields)


def child_runs_next(services: Services, run_id: str, step: str, running: list[str] | None = None) -> dict[str, Any]:
    """Ask the kind for its next move and record it: new children NotStarted, stopped ones CancelRequested.

    ``running``: the children the orchestrator has an activity for. A NotStarted child it does not
    know was recorded by an earlier delivery of this activity whose answer was lost: it is started
    now, so it never holds a slot with nothing to run it.
    """
    ctx = StepContext(services, run_id, step)
    children = read_children(services, run_id, step)
    lost = [c.name for c in children if running is not None and c.status == NOT_STARTED and c.name not in running]
    active = [c for c in children if c.status in ACTIVE]
    if ctx.row.get("status") in TERMINAL or is_cancel_requested(services, run_id, step):
        _stop_children(services, run_id, children, {c.name: "canceled: the run or the step was canceled"
                                                    for c in active})
        still = [c.name for c in read_children(services, run_id, step) if c.status in ACTIVE]
        return {"start": [], "finished": not still, "reason": "canceled", "wait_seconds": 1.0 if still else None}
    plan = plan_for(ctx)
    moves = plan.next_moves(ctx, children, _elapsed(ctx.row))
    if moves.cancel:
        _stop_children(services, run_id, children, dict(moves.cancel))
        for name, reason in moves.cancel:
            note(services, run_id, step, f"[amlite] child run {name}: stopped early: {reason}")
    names: list[str] = []
    if moves.start:
        first = max((c.index for c in children), default=-1) + 1
        new = [(plan.child_name(step, first + i), {"index": first + i, "parameters": params})
               for i, params in enumerate(moves.start)]
        services.runs.create_children(run_id, step, new)
        names = [name for name, _ in new]
        for name, fields in new:
            note(services, run_id, step, f"[amlite] child run {name}: {fields['parameters']}")
    if moves.finished:
        note(services, run_id, step, f"[amlite] no more child runs: {moves.reason}")
    if moves.start or moves.cancel or moves.finished:
        with contextlib.suppress(Exception):  # the counts are a convenience for the run view
            services.runs.update(run_id, step_key(step), {"search": search_summary(
                read_children(services, run_id, step), moves.reason if moves.finished else "")})
    return {"start": lost + names, "finished": moves.finished and not lost, "reason": moves.reason,
            "wait_seconds": moves.wait_seconds}


def run_child(services: Services, run_id: str, step: str, child: str) -> dict[str, Any]:
    """Run one child to its end; a redelivery of a finished child answers its recorded status."""
    row = services.runs.get_step(run_id, child)
    status = row.get("status")
    if status in TERMINAL:
        return {"child": child, "status": status}
    if status == CANCEL_REQUESTED or services.runs.get_run(run_id).get("status") in (CANCEL_REQUESTED, CANCELED):
        with contextlib.suppress(InvalidTransition):
            row = services.runs.transition(run_id, step_key(child), CANCELED, {"end_time": utcnow()})
        return {"child": child, "status": CANCELED}
    attempt = int(row.get("attempt") or 0) + 1
    try:
        row = services.runs.transition_from(row, RUNNING, {"start_time": utcnow(), "attempt": attempt})
    except InvalidTransition as exc:
        return {"child": child, "status": exc.row.get("status")}
    ctx = StepContext(services, run_id, step)
    try:
        status, fields = plan_for(ctx).run_child(ctx, row, attempt)
    except Exception as exc:  # infrastructure: this child fails with the reason, the search goes on
        log.exception("child run %s of step %s crashed", child, step)
        status, fields = FAILED, {"error": {"message": f"{type(exc).__name__}: {exc}"}}
    current = services.runs.get_step(run_id, child)
    if current.get("status") == CANCEL_REQUESTED and status == CANCELED:
        fields = {"error": current.get("error") or fields.get("error"), **{k: v for k, v in fields.items()
                                                                          if k != "error"}}
    try:
        row = services.runs.transition(run_id, step_key(child), status, {"end_time": utcnow(), **fields},
                                       guard=lambda r: int(r.get("attempt") or 0) == attempt)
    except InvalidTransition as exc:
        row = exc.row
    return {"child": child, "status": row.get("status")}


def child_runs_finish(services: Services, run_id: str, step: str, reason: str) -> dict[str, Any]:
    """End the step: Canceled after a cancel, else as the kind decides from its children."""
    ctx = StepContext(services, run_id, step)
    if ctx.row.get("status") in TERMINAL:
        return ctx.result()
    children = read_children(services, run_id, step)
    if reason == "canceled" or is_cancel_requested(services, run_id, step):
        return ctx.end(CANCELED, {"error": {"message": "canceled while running"}})
    ctx.key = str(ctx.row.get("reuse_key") or "")
    ctx.parts = (ctx.row.get("reuse") or {}).get("parts") or {}
    try:
        return plan_for(ctx).finish(ctx, children, reason)
    except Exception as exc:  # infrastructure: the step fails with the reason, the run goes on
        log.exception("finishing step %s of run %s failed", step, run_id)
        return ctx.fail(f"{type(exc).__name__}: {exc}")


def needs_timer(new: int, waiting: int) -> bool:
    """Whether a wait on ``waiting`` tasks, ``new`` of them created for it, needs a timer due now.

    Under Durable's out-of-process replay the extension awaits only the tasks that are new at a
    ``task_any`` (see ``parallel.fanout``): a wait that adds a child or the look-again timer next to
    running children would not notice those children ending. A timer due now ends that wait at
    once; the wait after it has no new task, so any child's end (or the look-again timer) ends it.
    """
    return 0 < new < waiting


@dataclass
class ChildRunsLoop:
    """The orchestrator's bookkeeping, pure: what it waits for after each ``child_runs_next`` answer.

    One look-again timer (``timer_seconds``) is kept across waits rather than made anew each time,
    so a wait that adds nothing new notices whichever comes first: a child's end or the timer.
    """

    running: dict[str, bool] = field(default_factory=dict)

    def started(self, names: list[str]) -> None:
        for name in names:
            self.running[name] = True

    def ended(self, name: str) -> None:
        self.running.pop(name, None)

    def done(self, moves: Mapping[str, Any]) -> bool:
        """Nothing left to wait for: the kind is finished (or idle) and no child activity is out."""
        return not self.running and (bool(moves.get("finished")) or not moves.get("start"))

    def timer_seconds(self, moves: Mapping[str, Any]) -> float | None:
        """Ask again after this long even if no child ends (a policy judges running children), or None."""
        wait = moves.get("wait_seconds")
        return float(wait) if wait and self.running else None


__all__ = ["needs_timer", "child_stop_reason", "search_summary", "ACTIVE", "CHILD_RUNS_ORCHESTRATOR", "ChildMoves", "ChildRun", "ChildRunsLoop", "ChildRunsPlan",
           "child_runs_finish", "child_runs_next", "child_runs_prepare", "note", "read_children", "run_child"]
