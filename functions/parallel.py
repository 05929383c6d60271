"""ParallelRunStep under Durable: prepare -> lanes of chunk sub-orchestrations of slice activities -> finish.

``parallel_step`` holds one task per chunk (one chunk per lane at a time);
each chunk (``parallel_batches``) keeps its lane's share of
``node_count * process_count_per_node`` busy with slice activities, refilling
a slot whenever a slice ends, at most ``chunk_tasks`` in all; each slice runs
consecutive mini-batches on one worker. A refill next to older running tasks
also waits on a timer due now: see ``fanout`` for why. The decisions (slicing, lanes, tallies, limits)
are pure code in ``pipeline_core.parallel.fanout``; these handlers only turn
them into Durable tasks. Counts travel as small summary dicts; rows and files
stay in Blob and Table storage.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from pipeline_core.engine.builtin_step_kinds import PARALLEL_STEP_ORCHESTRATOR
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.parallel import activities as prs
from pipeline_core.parallel.fanout import ChunkFanout, StepFanout, failed_slice, needs_timer

bp = df.Blueprint()

STEP_ORCHESTRATOR = PARALLEL_STEP_ORCHESTRATOR  # the name the ParallelRunStep kind is registered with
CHUNK_ORCHESTRATOR = "parallel_batches"


def _services() -> Any:
    return services_for(storage_from_environment())


def _failed(task: TaskBase) -> bool:
    return task.state is TaskState.FAILED


def _wait_any(context: df.DurableOrchestrationContext, running: dict[TaskBase, Any], started: int) -> TaskBase:
    """``task_any`` over what runs; a refill next to older tasks also waits for a timer due now (see ``fanout``)."""
    waiting = list(running)
    if needs_timer(started, len(running)):
        waiting.append(context.create_timer(context.current_utc_datetime))
    return context.task_any(waiting)


@bp.orchestration_trigger(context_name="context", orchestration=STEP_ORCHESTRATOR)
def parallel_step(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    prepared = yield context.call_activity("prs_prepare", job)
    if prepared.get("done"):
        return prepared["result"]
    step = StepFanout(prepared)
    running: dict[TaskBase, int] = {}
    while True:
        chunks = step.to_start()
        for lane, chunk in chunks:
            running[context.call_sub_orchestrator(CHUNK_ORCHESTRATOR, {**job, **chunk})] = lane
        if not running:
            break
        done = yield _wait_any(context, running, len(chunks))
        if done in running:  # else the refill timer fired
            step.finished(running.pop(done), {"failed_batches": 0} if _failed(done) else done.result)
    return (yield context.call_activity("prs_finish", {**job, "summary": step.summary}))


@bp.orchestration_trigger(context_name="context", orchestration=CHUNK_ORCHESTRATOR)
def parallel_batches(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    chunk = ChunkFanout(job)
    running: dict[TaskBase, dict[str, Any]] = {}
    while True:
        pieces = chunk.to_start()
        for piece in pieces:
            running[context.call_activity("prs_run_slice", {"run_id": job["run_id"], "step": job["step"],
                                                            **piece})] = piece
        if not running:
            return chunk.result()
        done = yield _wait_any(context, running, len(pieces))
        if done in running:  # else the refill timer fired
            piece = running.pop(done)
            chunk.finished(piece, failed_slice(piece["start"], piece["end"], str(done.result)) if _failed(done)
                           else done.result)


# Binding parameters take a plain ``dict``: the Python worker refuses a generic alias such as
# ``dict[str, Any]`` and then loads no function of the app at all.
@bp.activity_trigger(input_name="job", activity="prs_prepare")
def prs_prepare(job: dict) -> dict[str, Any]:
    return prs.prs_prepare(_services(), job["run_id"], job["step"])


@bp.activity_trigger(input_name="piece", activity="prs_run_slice")
def prs_run_slice(piece: dict) -> dict[str, Any]:
    return prs.prs_run_slice(_services(), piece["run_id"], piece["step"], int(piece["start"]), int(piece["end"]),
                             piece.get("carried"))


@bp.activity_trigger(input_name="job", activity="prs_finish")
def prs_finish(job: dict) -> dict[str, Any]:
    return prs.prs_finish(_services(), job["run_id"], job["step"], job["summary"])
