"""The Durable orchestrator that runs every pipeline, and the activities it schedules.

Input is the run id only; the spec stays in Blob storage and never enters the
history. The loop is: plan (pure, ``RunTracker``) -> fan out ready steps ->
wait for any step or a cancel event -> record -> repeat.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from pipeline_core.engine import activities
from pipeline_core.engine.retry_policy import StepRetry
from pipeline_core.engine.run_tracker import CANCEL_EVENT, CHUNK_SIZE, RunTracker, orchestrators_from
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.engine.step_waits import StepWaits

bp = df.Blueprint()

ORCHESTRATOR = "pipeline_run"
CHUNK_ORCHESTRATOR = "pipeline_steps_chunk"
RETRY_ORCHESTRATOR = "pipeline_step_retry"


def _services() -> Any:
    return services_for(storage_from_environment())


def _step_task(context: df.DurableOrchestrationContext, run_id: str, name: str,
               retry: dict[str, Any] | None, orchestrator: str | None = None) -> TaskBase:
    """The task that runs one step, as its kind says (``start_run`` read the step-kind registry)."""
    payload = {"run_id": run_id, "step": name}
    if orchestrator:  # e.g. a ParallelRunStep fans its mini-batches out in a sub-orchestration of its own
        return context.call_sub_orchestrator(orchestrator, payload)
    if StepRetry.from_spec(retry) is not None:  # attempts with backoff timers between them
        return context.call_sub_orchestrator(RETRY_ORCHESTRATOR, {**payload, "retry": retry})
    return context.call_activity("run_step", payload)


def _outcome(task: TaskBase) -> Any:
    return task.result if task.state is not TaskState.FAILED else f"the step's activity failed: {task.result}"


def _schedule(context: df.DurableOrchestrationContext, tracker: RunTracker, ready: list[str],
              waits: StepWaits) -> None:
    """Start the ready steps: one task each, or chunk sub-orchestrations when there are more than CHUNK_SIZE."""
    if len(ready) > CHUNK_SIZE:
        for chunk in tracker.chunks(ready):
            task = context.call_sub_orchestrator(CHUNK_ORCHESTRATOR, {
                "run_id": tracker.run_id, "steps": chunk, "retry": tracker.retry,
                "orchestrators": {n: tracker.orchestrators[n] for n in chunk if n in tracker.orchestrators}})
            waits.add(task, chunk, all(tracker.ends_on_cancel(n) for n in chunk))
        return
    for name in ready:
        task = _step_task(context, tracker.run_id, name, tracker.retry.get(name), tracker.orchestrator_of(name))
        waits.add(task, [name], tracker.ends_on_cancel(name))


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def pipeline_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    run_id: str = context.get_input()
    info = yield context.call_activity("start_run", run_id)
    if info["done"]:
        return info
    tracker = RunTracker.from_start(run_id, info)
    waits = StepWaits()  # what is in flight and whether a wait needs its refill timer (pure)
    cancel_event = context.wait_for_external_event(CANCEL_EVENT)
    while True:
        moves = tracker.next_moves()
        if moves.skipped or moves.to_cancel:
            yield context.call_activity("settle_steps", {"run_id": run_id, "skipped": moves.skipped,
                                                         "cancel": moves.to_cancel})
        if moves.done:
            return (yield context.call_activity("finish_run", {
                "run_id": run_id, "outcome": moves.outcome, "failed_steps": moves.failed_steps,
                "errors": tracker.errors}))
        waits.start_round()
        _schedule(context, tracker, moves.ready, waits)
        context.set_custom_status(tracker.custom_status())
        pending = [*waits.tasks(), *([] if tracker.cancel_requested else [cancel_event])]
        refill = None
        if waits.needs_timer(cancel_waits=not tracker.cancel_requested):
            refill = context.create_timer(context.current_utc_datetime)
            pending.append(refill)
        winner = yield context.task_any(pending)
        if winner is refill:  # every task is older now: the next wait notices whichever ends first
            continue
        if winner is cancel_event:
            tracker.cancel()
            continue
        tracker.completed_task(waits.ended(winner), _outcome(winner))


@bp.orchestration_trigger(context_name="context", orchestration=CHUNK_ORCHESTRATOR)
def pipeline_steps_chunk(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """A slice of a wide fan-out, so no single history holds hundreds of tasks."""
    payload = context.get_input()
    orchestrators = orchestrators_from(payload)
    tasks = {_step_task(context, payload["run_id"], n, payload["retry"].get(n), orchestrators.get(n)): n
             for n in payload["steps"]}
    results: dict[str, Any] = {}
    while tasks:
        winner = yield context.task_any(list(tasks))
        results[tasks.pop(winner)] = _outcome(winner)
    return {"steps": results}


# Binding parameters take a plain ``dict``: the Python worker refuses a generic alias such as
# ``dict[str, Any]`` and then loads no function of the app at all.
@bp.orchestration_trigger(context_name="context", orchestration=RETRY_ORCHESTRATOR)
def pipeline_step_retry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One step's attempts, a durable timer of ``StepRetry``'s length between two of them."""
    payload = context.get_input()
    policy = StepRetry.from_spec(payload["retry"])
    attempt = 1
    while True:
        try:
            return (yield context.call_activity("run_step", {"run_id": payload["run_id"], "step": payload["step"]}))
        except Exception:  # the attempt failed: StepAttemptFailed, or the activity itself died
            delay = policy.delay_after(attempt) if policy is not None else None
            if delay is None:
                raise
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
            attempt += 1


@bp.activity_trigger(input_name="payload", activity="start_run")
def start_run(payload: str) -> dict[str, Any]:
    return activities.start_run(_services(), payload)


@bp.activity_trigger(input_name="payload", activity="run_step")
def run_step(payload: dict) -> dict[str, Any]:
    return activities.run_step(_services(), payload["run_id"], payload["step"])


@bp.activity_trigger(input_name="payload", activity="settle_steps")
def settle_steps(payload: dict) -> None:
    """Skip steps that will never run and ask running ones to stop: one round trip per decision."""
    activities.skip_steps(_services(), payload["run_id"], payload["skipped"])
    activities.cancel_steps(_services(), payload["run_id"], payload["cancel"])


@bp.activity_trigger(input_name="payload", activity="finish_run")
def finish_run(payload: dict) -> dict[str, Any]:
    return activities.finish_run(_services(), payload["run_id"], payload["outcome"], payload["failed_steps"],
                                 payload.get("errors"))
