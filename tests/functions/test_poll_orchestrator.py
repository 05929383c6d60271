"""The generic POLL sub-orchestration (``poll_step``), replayed by azure-functions-durable from hand-built histories.

No engine, no storage, no Databricks: each test writes the history the Durable extension
would record and asserts what the orchestrator answers. Pinned here: one start, then a
durable timer (never a sleeping activity) before every poll, backing off from the first
delay to the cap; a deadline cuts the last wait short and tells the poll it has passed;
the step result is the orchestration's output; a parent pipeline schedules it for a
DatabricksStep.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from durable_history import History

import function_app
from amlite_devhost.app_loader import index_app
from pipeline_core.engine.poll_step import PollLoop, backoff_delay
from pipeline_core.engine.step_kinds import POLL_ORCHESTRATOR, orchestrators_for

CALL_ACTIVITY, CONTINUE_AS_NEW, CREATE_TIMER = 0, 4, 5
JOB = {"run_id": "run-1", "step": "prep"}
FINISHED = {"step": "prep", "status": "Finished", "reused": False, "error": None}


@pytest.fixture(scope="module")
def orchestrator() -> Any:
    return index_app(function_app.app).orchestrators[POLL_ORCHESTRATOR]


def _actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for group in state["actions"] for a in (group if isinstance(group, list) else [group])]


class PollReplay:
    def __init__(self, orchestrator: Any):
        self.orchestrator = orchestrator
        self.history = History(POLL_ORCHESTRATOR, json.dumps(JOB))
        self.next_id = 0
        self.waits: list[float] = []
        self.checks: list[dict[str, Any]] = []

    def replay(self) -> dict[str, Any]:
        return dict(json.loads(self.orchestrator(self.history.context(2))))

    def last(self) -> dict[str, Any]:
        return _actions(self.replay())[-1]

    def activity(self, name: str, answer: Any) -> dict[str, Any]:
        """The orchestrator's last action must call ``name``; record it and its answer."""
        action = self.last()
        assert action["actionType"] == CALL_ACTIVITY and action["functionName"] == name, action
        if name == "poll_check":
            self.checks.append(json.loads(action["input"]))
        self.history.scheduled(self.next_id, name, action["input"]).completed()
        self.history.started().task_done(self.next_id, answer)
        self.next_id += 1
        return action

    def timer(self) -> None:
        action = self.last()
        assert action["actionType"] == CREATE_TIMER, action
        fire_at = datetime.fromisoformat(action["fireAt"].replace("Z", "+00:00"))
        self.waits.append((fire_at - self.history.t).total_seconds())
        self.history.timer(self.next_id, fire_at).completed()
        self.history.t = max(self.history.t, fire_at)  # the next episode starts once the timer fired
        self.history.started().timer_fired(self.next_id, fire_at)
        self.next_id += 1


def test_start_then_a_timer_before_each_poll_backing_off_to_the_cap_then_the_result(orchestrator: Any) -> None:
    r = PollReplay(orchestrator)
    r.activity("poll_start", {"done": False, "handle": {"run_id": 7}, "first": 5, "max": 30, "timeout_seconds": None})
    for _ in range(4):
        r.timer()
        r.activity("poll_check", {"done": False, "status": "Running"})
    r.timer()
    r.activity("poll_check", {"done": True, "result": FINISHED})
    state = r.replay()
    assert state["isDone"] is True and state["output"] == FINISHED
    assert r.waits == [5.0, 10.0, 20.0, 30.0, 30.0]
    assert [c["polls"] for c in r.checks] == [0, 1, 2, 3, 4]
    assert all(c["handle"] == {"run_id": 7} and not c["timed_out"] for c in r.checks)


def test_a_deadline_shortens_the_last_wait_and_the_poll_is_told_it_passed(orchestrator: Any) -> None:
    r = PollReplay(orchestrator)
    r.activity("poll_start", {"done": False, "handle": {"run_id": 7}, "first": 4, "max": 60, "timeout_seconds": 9})
    r.timer()
    r.activity("poll_check", {"done": False})
    r.timer()
    failed = {**FINISHED, "status": "Failed", "error": "step 'prep' timed out after 9 s"}
    r.activity("poll_check", {"done": True, "result": failed})
    # the deadline is 9 s after start's answer: a 4 s wait, two episodes of the poll (a second each in this
    # history), then 3 s to the deadline instead of the 8 s backoff
    assert r.waits == [4.0, 3.0]
    assert [c["timed_out"] for c in r.checks] == [False, True]
    assert r.replay()["output"] == failed


def test_a_step_that_ends_at_start_returns_at_once_without_a_timer(orchestrator: Any) -> None:
    r = PollReplay(orchestrator)
    reused = {**FINISHED, "reused": True}
    r.activity("poll_start", {"done": True, "result": reused})
    state = r.replay()
    assert state["isDone"] is True and state["output"] == reused
    assert not [a for a in _actions(state) if a["actionType"] == CREATE_TIMER]


def test_the_pacing_is_pure_and_databricks_steps_go_to_the_poll_orchestrator() -> None:
    assert [backoff_delay(n, 5, 60) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    t0 = datetime(2026, 1, 1)
    loop = PollLoop.from_start(JOB, {"done": False, "handle": {}, "first": 1, "max": 2, "timeout_seconds": 3}, t0)
    assert (loop.next_fire(t0) - t0).total_seconds() == 1 and not loop.timed_out(t0)
    assert loop.check_input(loop.deadline)["timed_out"] is True  # type: ignore[arg-type]
    assert orchestrators_for([{"name": "prep", "type": "DatabricksStep"}, {"name": "x", "type": "PythonScriptStep"}]) \
        == {"prep": POLL_ORCHESTRATOR}  # type: ignore[list-item]


def test_a_long_poll_continues_as_new_with_its_state_and_never_starts_again(orchestrator: Any) -> None:
    from pipeline_core.engine.poll_step import RESTART_AFTER_POLLS

    r = PollReplay(orchestrator)
    r.activity("poll_start", {"done": False, "handle": {"run_id": 7}, "first": 1, "max": 2, "timeout_seconds": 3600})
    for _ in range(RESTART_AFTER_POLLS):
        r.timer()
        r.activity("poll_check", {"done": False, "status": "Running"})
    state = r.replay()
    [restart] = [a for a in _actions(state) if a["actionType"] == CONTINUE_AS_NEW]
    carried = json.loads(restart["input"])
    assert carried["run_id"] == "run-1" and carried["resume"]["polls"] == RESTART_AFTER_POLLS
    assert carried["resume"]["handle"] == {"run_id": 7} and carried["resume"]["deadline"]

    nxt = PollReplay(orchestrator)
    nxt.history = History(POLL_ORCHESTRATOR, restart["input"])
    nxt.timer()  # no poll_start: the first action of the new generation is the timer, at the cap
    nxt.activity("poll_check", {"done": True, "result": FINISHED})
    assert nxt.waits == [2.0] and nxt.checks[0]["polls"] == RESTART_AFTER_POLLS
    assert nxt.replay()["output"] == FINISHED
