"""The units of work the orchestrator schedules. Each is idempotent and returns a small dict.

Idempotent because Durable (and any queue) may deliver an activity twice: a
step already terminal returns its recorded result and writes nothing. A step
failure is a result, not an exception, because ``task_all`` fails fast on the
first exception and would orphan the sibling steps.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from pipeline_core.engine.planner import plan
from pipeline_core.engine.services import Services
from pipeline_core.engine.step_context import (  # noqa: F401  (re-exported: the engine's public names)
    StepAttemptFailed,
    StepContext,
    is_cancel_requested,
    stop_reason,
)
from pipeline_core.engine.step_kinds import Orchestration, find_step_kind, orchestrators_for
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    CHILD_RUNS_FIELD,
    FAILED,
    NOT_STARTED,
    QUEUED,
    RUN_ROW,
    RUNNING,
    TERMINAL,
    InvalidTransition,
    step_key,
    utcnow,
)

log = logging.getLogger("amlite.engine")


# -- run level --------------------------------------------------------------------
def start_run(services: Services, run_id: str) -> dict[str, Any]:
    """Mark the run Running and hand the orchestrator its graph: names and edges only, never data."""
    # The row as this process created it, when it did (no read: the write below is conditional on its etag).
    run = services.runs.take_created(run_id) or services.runs.get_run(run_id)
    spec = services.load_spec(run["graph_id"])
    if run["status"] in (NOT_STARTED, QUEUED):
        from pipeline_core.engine.launch import host_identity

        try:  # from the row in hand (its etag): one round trip unless it changed since
            run = services.runs.transition_from(run, RUNNING, {"start_time": utcnow(), "host_id": host_identity()})
        except InvalidTransition as exc:
            run = exc.row  # as it is now: canceled, say, which decides what follows
    if run["status"] in TERMINAL:
        return {"done": True, "status": run["status"], "deps": spec.dependencies(), "continue_on_step_failure": False}
    continue_on_failure = run.get("continue_on_step_failure")
    if continue_on_failure in (None, ""):
        continue_on_failure = spec.doc.get("continue_on_step_failure", False)
    retry = {s["name"]: s["retry"] for s in spec.steps if s.get("retry")}
    # Which steps a sub-orchestration runs (their kind's orchestration); in the history, so replays agree.
    return {"done": False, "deps": spec.dependencies(), "continue_on_step_failure": bool(continue_on_failure),
            "cancel_requested": run["status"] == CANCEL_REQUESTED, "retry": retry,
            "orchestrators": orchestrators_for(spec.steps)}


def skip_steps(services: Services, run_id: str, skipped: dict[str, str]) -> None:
    """Steps that will never run end Canceled with the reason, so nothing is left NotStarted forever."""
    for name, reason in skipped.items():
        try:
            services.runs.transition(run_id, step_key(name), CANCELED,
                                     {"end_time": utcnow(), "error": {"message": f"not run: {reason}"}})
        except InvalidTransition:
            pass


def finish_run(services: Services, run_id: str, outcome: str, failed_steps: list[str],
               errors: dict[str, str] | None = None) -> dict[str, Any]:
    """End the run; a step row left non-terminal (its activity died after its retries) ends with the reason."""
    fields: dict[str, Any] = {"end_time": utcnow()}
    state = services.runs.get_state(run_id)
    if state.run.get("status") == CANCEL_REQUESTED:  # the flag wins even if the event never arrived
        outcome = CANCELED
    for name, row in state.steps.items():
        for child in row.get(CHILD_RUNS_FIELD) or []:  # a HyperDrive trial left running ends with its step
            if child.get("status") not in TERMINAL:
                with contextlib.suppress(InvalidTransition):
                    services.runs.transition_from(child, CANCELED, {
                        "end_time": utcnow(), "error": {"message": f"the run ended {outcome} first"}})
        if row.get("status") not in TERMINAL:
            reason = (errors or {}).get(name)
            try:
                services.runs.transition_from(row, FAILED if reason else CANCELED, {
                    "end_time": utcnow(), "error": {"message": reason or f"the run ended {outcome} first"}})
            except InvalidTransition:
                pass
    if outcome == FAILED:
        state = services.runs.get_state(run_id)
        messages = []
        for name in failed_steps or [n for n, s in state.steps.items() if s.get("status") == FAILED]:
            err = state.steps.get(name, {}).get("error") or {}
            messages.append(f"step {name!r} failed: {err.get('message', 'see its log') if isinstance(err, dict) else err}")
        fields["error"] = {"message": "; ".join(messages) or "a step was canceled", "failed_steps": failed_steps}
        fields["status_detail"] = messages[0] if messages else ""
    try:  # from the row just read: one round trip unless the row changed since (then read and try again)
        row = services.runs.transition_from(state.run, outcome, fields)
    except InvalidTransition as exc:
        row = exc.row
    return {"run_id": run_id, "status": row.get("status")}


def cancel_steps(services: Services, run_id: str, steps: list[str]) -> None:
    """Ask running steps to stop (fail-fast after a failure); they end Canceled within a second or two."""
    polled = None
    for name in steps:
        try:
            services.runs.transition(run_id, step_key(name), CANCEL_REQUESTED)
        except InvalidTransition:
            continue
        if polled is None:
            spec = services.load_spec(services.runs.get_run(run_id)["graph_id"])
            from pipeline_core.engine.poll_step import cancel_polled, is_polled

            polled = {s["name"] for s in spec.steps if is_polled(s.get("type"))}
        if name in polled:  # remote work (a Databricks run) is asked to stop now, not at its next poll
            cancel_polled(services, run_id, name)


def request_cancel(services: Services, run_id: str) -> dict[str, Any]:
    """Flag the run (running steps notice within a second and stop their processes) and tell its orchestrator."""
    try:
        row = services.runs.transition(run_id, RUN_ROW, CANCEL_REQUESTED)
    except InvalidTransition as exc:
        return {"run_id": run_id, "status": exc.row.get("status")}
    from pipeline_core.engine.orphans import abandoned, end_orphan

    if abandoned(row):  # its host is gone: no orchestrator will ever see the flag, end it now
        end_orphan(services, run_id, CANCELED, "canceled; its host had stopped before the run ended")
        return {"run_id": run_id, "status": CANCELED}
    from pipeline_core.engine.launch import signal_cancel

    signal_cancel(run_id)
    return {"run_id": run_id, "status": row.get("status")}


# -- step level -------------------------------------------------------------------
def run_step(services: Services, run_id: str, step: str) -> dict[str, Any]:
    """Run (or reuse) one step of an ACTIVITY kind; a redelivery for a terminal step returns the recorded result."""
    started = time.perf_counter()
    ctx = StepContext(services, run_id, step)
    kind = find_step_kind(ctx.step.get("type"))
    if kind is not None and kind.orchestration is not Orchestration.ACTIVITY:  # the orchestrator never sends it
        result = ctx.early_result() or ctx.fail(f"step {ctx.name!r} ({kind.type}) runs as the sub-orchestration "
                                                f"{kind.orchestrator!r}, not as a run_step activity")
    else:  # an unknown type is refused by the context's checks, with the types this engine runs
        result = ctx.run_with(kind.run if kind is not None else _unknown)
    log.debug("step %s of %s took %.3f s", step, run_id, time.perf_counter() - started)
    return result


def _unknown(ctx: StepContext) -> dict[str, Any]:
    return ctx.fail(f"step {ctx.name!r}: type {ctx.step.get('type')!r} has no registered step kind")


def next_moves(deps: dict[str, list[str]], results: dict[str, str], in_flight: set[str],
               continue_on_step_failure: bool, cancel_requested: bool) -> Any:
    """Re-exported planner entry so the orchestrator imports one engine module."""
    return plan(deps, results, in_flight, continue_on_step_failure, cancel_requested)
