"""ParallelRunStep under Durable: prepare -> chunked sub-orchestrations of mini-batch activities -> finish.

The step orchestration only holds one task per chunk; each chunk keeps at most
``concurrency`` mini-batch activities in flight. Counts travel as small
summary dicts; rows and files stay in Blob and Table storage.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.parallel import activities as prs
from pipeline_core.parallel.fanout import chunk_plan
from pipeline_core.parallel.summary import (
    add_result,
    chunk_start,
    merge,
    new_summary,
    scheduled,
    should_abort,
    with_carried,
)

bp = df.Blueprint()

STEP_ORCHESTRATOR = "parallel_step"
CHUNK_ORCHESTRATOR = "parallel_batches"


def _services() -> Any:
    return services_for(storage_from_environment())


def _value(task: TaskBase, fallback: dict[str, Any]) -> dict[str, Any]:
    return task.result if task.state is not TaskState.FAILED else {**fallback, "error": str(task.result)}


@bp.orchestration_trigger(context_name="context", orchestration=STEP_ORCHESTRATOR)
def parallel_step(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    prepared = yield context.call_activity("prs_prepare", job)
    if prepared.get("done"):
        return prepared["result"]
    summary = new_summary(prepared)
    ranges, at_once, per_chunk = chunk_plan(int(prepared["batches"]), int(prepared["concurrency"]))
    pending: list[tuple[int, int]] = list(ranges)
    running: list[TaskBase] = []
    while pending or running:
        while pending and len(running) < at_once and not (summary["aborted"] or summary["canceled"]):
            start, end = pending.pop(0)
            running.append(context.call_sub_orchestrator(CHUNK_ORCHESTRATOR, {
                **job, "start": start, "end": end, "concurrency": per_chunk, "summary": chunk_start(summary)}))
        if not running:
            break
        done = yield context.task_any(running)
        running.remove(done)
        summary = merge(summary, _value(done, {"failed_batches": 0}))
        summary = {**summary, "aborted": summary["aborted"] or should_abort(summary)}
    return (yield context.call_activity("prs_finish", {**job, "summary": summary}))


@bp.orchestration_trigger(context_name="context", orchestration=CHUNK_ORCHESTRATOR)
def parallel_batches(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    summary, next_index = job["summary"], int(job["start"])
    running: dict[TaskBase, int] = {}
    while next_index < int(job["end"]) or running:
        while next_index < int(job["end"]) and len(running) < int(job["concurrency"]) and not (
                summary["aborted"] or summary["canceled"]):
            batch = {"run_id": job["run_id"], "step": job["step"], "index": next_index}
            running[context.call_activity("prs_run_batch", batch)] = next_index
            summary, next_index = scheduled(summary), next_index + 1
        if not running:
            break
        done = yield context.task_any(list(running))
        index = running.pop(done)
        summary = add_result(summary, _value(done, {"index": index, "status": "failed", "items": 1,
                                                    "failed_items": 1, "succeeded_items": 0, "tries": 1}))
        summary = {**summary, "aborted": summary["aborted"] or should_abort(with_carried(summary))}
    return summary


@bp.activity_trigger(input_name="job", activity="prs_prepare")
def prs_prepare(job: dict[str, Any]) -> dict[str, Any]:
    return prs.prs_prepare(_services(), job["run_id"], job["step"])


@bp.activity_trigger(input_name="batch", activity="prs_run_batch")
def prs_run_batch(batch: dict[str, Any]) -> dict[str, Any]:
    return prs.prs_run_batch(_services(), batch["run_id"], batch["step"], int(batch["index"]))


@bp.activity_trigger(input_name="job", activity="prs_finish")
def prs_finish(job: dict[str, Any]) -> dict[str, Any]:
    return prs.prs_finish(_services(), job["run_id"], job["step"], job["summary"])
