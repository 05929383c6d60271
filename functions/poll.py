"""The generic POLL sub-orchestration: start a step's remote work, then poll it between durable timers.

``poll_step`` takes ``{"run_id", "step"}`` and returns the step result, like every
sub-orchestration a step kind names. It only yields Durable tasks: the pacing, the
deadline and the result are ``PollLoop``'s (``pipeline_core/engine/poll_step.py``); the
remote calls are the ``poll_start`` and ``poll_check`` activities (the kind's poller).
No worker waits while the remote work runs: between two polls there is only a timer. Every
``RESTART_AFTER_POLLS`` polls it continues as new with its state, so its history stays short.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from pipeline_core.engine import poll_step as polling
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.engine.step_kinds import POLL_ORCHESTRATOR

bp = df.Blueprint()


def _services() -> Any:
    return services_for(storage_from_environment())


@bp.orchestration_trigger(context_name="context", orchestration=POLL_ORCHESTRATOR)
def poll_step(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    if job.get("resume"):  # a later generation: the work was started, the loop's state is in the input
        loop = polling.PollLoop.resume(job)
    else:
        started = yield context.call_activity("poll_start", {"run_id": job["run_id"], "step": job["step"]})
        loop = polling.PollLoop.from_start(job, started, context.current_utc_datetime)
    while not loop.done:
        if loop.should_restart():  # keep the history short for a long remote run
            context.continue_as_new(loop.carry())
            return None
        yield context.create_timer(loop.next_fire(context.current_utc_datetime))
        loop.observe((yield context.call_activity("poll_check", loop.check_input(context.current_utc_datetime))))
    return loop.result


# Binding parameters take a plain ``dict``: the Python worker refuses a generic alias such as
# ``dict[str, Any]`` and then loads no function of the app at all.
@bp.activity_trigger(input_name="job", activity="poll_start")
def poll_start(job: dict) -> dict[str, Any]:
    return polling.poll_start(_services(), job["run_id"], job["step"])


@bp.activity_trigger(input_name="job", activity="poll_check")
def poll_check(job: dict) -> dict[str, Any]:
    return polling.poll_check(_services(), job)
