"""The generic CHILD_RUNS sub-orchestration (HyperDriveStep's trials): prepare -> next / children -> finish.

The decisions (which children to start and stop, when the step is done) are made in the
``child_runs_next`` activity by the kind's plan (``pipeline_core.engine.child_runs``), from the
children's rows and logged metrics; this orchestrator only turns them into Durable tasks: one
activity per child, a durable timer so a policy can judge children while they run, and the end.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

from pipeline_core.engine import child_runs
from pipeline_core.engine.child_runs import ChildRunsLoop, needs_timer
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.engine.step_kinds import CHILD_RUNS_ORCHESTRATOR

bp = df.Blueprint()


def _services() -> Any:
    return services_for(storage_from_environment())


@bp.orchestration_trigger(context_name="context", orchestration=CHILD_RUNS_ORCHESTRATOR)
def child_runs_step(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    prepared = yield context.call_activity("child_runs_prepare", job)
    if prepared.get("done"):
        return prepared["result"]
    loop = ChildRunsLoop()
    tasks: dict[TaskBase, str] = {}
    poll: TaskBase | None = None  # one look-again timer at a time, kept across waits
    while True:
        moves = yield context.call_activity("child_runs_next", {**job, "running": sorted(tasks.values())})
        for name in moves["start"]:
            tasks[context.call_activity("run_child", {**job, "child": name})] = name
        loop.started(moves["start"])
        if loop.done(moves):
            break
        new = len(moves["start"])
        wait = loop.timer_seconds(moves)
        if poll is None and wait is not None:
            poll = context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
            new += 1
        while True:
            waiting = [*tasks, *([poll] if poll is not None else [])]
            if needs_timer(new, len(waiting)):  # see ChildRunsLoop: new tasks next to older ones
                waiting.append(context.create_timer(context.current_utc_datetime))
            new = 0
            done = yield context.task_any(waiting)
            if done is poll:  # time for the plan to look at the running children
                poll = None
                break
            if done in tasks:
                loop.ended(tasks.pop(done))
                break
            # else the timer due now fired: every task is older now, wait on all of them
    return (yield context.call_activity("child_runs_finish", {**job, "reason": moves.get("reason") or ""}))


# Binding parameters take a plain ``dict``: the Python worker refuses a generic alias.
@bp.activity_trigger(input_name="job", activity="child_runs_prepare")
def child_runs_prepare(job: dict) -> dict[str, Any]:
    return child_runs.child_runs_prepare(_services(), job["run_id"], job["step"])


@bp.activity_trigger(input_name="job", activity="child_runs_next")
def child_runs_next(job: dict) -> dict[str, Any]:
    return child_runs.child_runs_next(_services(), job["run_id"], job["step"], job.get("running"))


@bp.activity_trigger(input_name="job", activity="run_child")
def run_child(job: dict) -> dict[str, Any]:
    return child_runs.run_child(_services(), job["run_id"], job["step"], job["child"])


@bp.activity_trigger(input_name="job", activity="child_runs_finish")
def child_runs_finish(job: dict) -> dict[str, Any]:
    return child_runs.child_runs_finish(_services(), job["run_id"], job["step"], job.get("reason") or "")
