"""The pipeline orchestrator, replayed by azure-functions-durable from hand-built histories.

No engine and no storage: each test writes the history the Durable extension
would record and asserts the actions the orchestrator answers with. This pins
AML's ordering and failure rules to the code Azure runs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from durable_history import History

import function_app
from amlite_devhost.app_loader import index_app

CALL_ACTIVITY, CALL_WITH_RETRY, CALL_SUB, CREATE_TIMER = 0, 1, 2, 5
DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


@pytest.fixture(scope="module")
def orchestrator() -> Any:
    return index_app(function_app.app).orchestrators["pipeline_run"]


def flatten(actions: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for action in actions if isinstance(actions, list) else [actions]:
        if isinstance(action, list):
            found.extend(flatten(action))
        elif "compoundActions" in action:
            found.extend(flatten(action["compoundActions"]))
        else:
            found.append(action)
    return found


class Replay:
    """Drives one orchestration: replays, then records what the extension would for the new actions."""

    def __init__(self, orchestrator: Any, start: dict[str, Any]):
        self.orchestrator = orchestrator
        self.history = History("pipeline_run", json.dumps("run-1"))
        self.ids: dict[str, int] = {}  # step (or activity name) -> task id
        self.next_id = 0
        self.unfired: list[tuple[int, datetime]] = []
        self.state = self.replay()
        assert self.calls() == [("start_run", "run-1")]
        self.schedule_new()
        self.history.started().task_done(self.ids["start_run"], start)
        self.state = self.replay()

    def replay(self) -> dict[str, Any]:
        return dict(json.loads(self.orchestrator(self.history.context(2))))

    def calls(self) -> list[tuple[str, Any]]:
        out = []
        for action in flatten(self.state["actions"]):
            if action["actionType"] in (CALL_ACTIVITY, CALL_WITH_RETRY, CALL_SUB):
                payload = json.loads(action["input"])
                key = payload.get("step") if isinstance(payload, dict) and "step" in payload else payload
                out.append((action["functionName"], key))
        return out

    def schedule_new(self) -> list[tuple[str, Any]]:
        """Record TaskScheduled (TimerCreated) for actions not yet in the history, numbering them as the extension does."""
        fresh = []
        timers = 0
        for action in flatten(self.state["actions"]):
            if action["actionType"] == CREATE_TIMER:  # the refill timer due now (see functions/orchestration.py)
                key = f"timer:{timers}"
                timers += 1
                if key not in self.ids:
                    self.ids[key] = self.next_id
                    self.next_id += 1
                    fire_at = datetime.fromisoformat(action["fireAt"].replace("Z", "+00:00"))
                    self.history.timer(self.ids[key], fire_at)
                    self.unfired.append((self.ids[key], fire_at))
                continue
            if action["actionType"] not in (CALL_ACTIVITY, CALL_WITH_RETRY):
                continue
            payload = json.loads(action["input"])
            key = payload["step"] if isinstance(payload, dict) and "step" in payload else action["functionName"]
            if key in self.ids:
                continue
            self.ids[key] = self.next_id
            self.next_id += 1
            self.history.scheduled(self.ids[key], action["functionName"], action["input"])
            fresh.append((action["functionName"], key))
        self.history.completed()
        return fresh

    def step_done(self, step: str, status: str = "Finished", error: str | None = None) -> list[tuple[str, Any]]:
        """Complete a step's activity, replay, and return the actions that are new."""
        return self.activity_done(step, {"step": step, "status": status, "reused": False, "error": error})

    def activity_done(self, key: str, result: Any = None) -> list[tuple[str, Any]]:
        self.history.started().task_done(self.ids[key], result)
        self.state = self.replay()
        fresh = self.schedule_new()
        while self.unfired:  # a timer due now fires at once, as the extension fires it
            timer_id, fire_at = self.unfired.pop(0)
            self.history.started().timer_fired(timer_id, fire_at)
            self.state = self.replay()
            fresh += self.schedule_new()
        return fresh

    def inputs(self, function: str) -> list[dict[str, Any]]:
        return [json.loads(a["input"]) for a in flatten(self.state["actions"]) if a.get("functionName") == function]


def test_fan_out_waits_for_both_branches(orchestrator: Any) -> None:
    r = Replay(orchestrator, {"done": False, "deps": DIAMOND, "continue_on_step_failure": False, "retry": {}})
    assert r.schedule_new() == [("run_step", "a")]
    assert r.step_done("a") == [("run_step", "b"), ("run_step", "c")]
    assert r.state["customStatus"]["running"] == ["b", "c"]
    assert r.step_done("b") == []  # d waits for c
    assert r.step_done("c") == [("run_step", "d")]
    assert r.step_done("d") == [("finish_run", "finish_run")]
    assert r.inputs("finish_run")[0]["outcome"] == "Finished"


def test_failure_cancels_running_siblings_by_default(orchestrator: Any) -> None:
    r = Replay(orchestrator, {"done": False, "deps": DIAMOND, "continue_on_step_failure": False, "retry": {}})
    r.schedule_new()
    r.step_done("a")
    assert r.step_done("b", "Failed", "exit code 1") == [("settle_steps", "settle_steps")]
    settle = r.inputs("settle_steps")[0]
    assert list(settle["skipped"]) == ["d"] and settle["cancel"] == ["c"]
    assert r.activity_done("settle_steps") == []  # nothing new is scheduled; c is still stopping
    assert r.step_done("c", "Canceled") == [("finish_run", "finish_run")]
    assert r.inputs("finish_run")[0]["outcome"] == "Failed"


def test_continue_on_step_failure_runs_the_independent_branch(orchestrator: Any) -> None:
    graph = {"a": [], "b": ["a"], "x": [], "y": ["x"]}
    r = Replay(orchestrator, {"done": False, "deps": graph, "continue_on_step_failure": True, "retry": {}})
    assert r.schedule_new() == [("run_step", "a"), ("run_step", "x")]
    assert r.step_done("a", "Failed", "boom") == [("settle_steps", "settle_steps")]
    assert r.inputs("settle_steps")[0] == {"run_id": "run-1", "skipped": {"b": "upstream step 'a' did not finish"},
                                           "cancel": []}
    assert r.activity_done("settle_steps") == []
    assert r.step_done("x") == [("run_step", "y")]
    assert r.step_done("y") == [("finish_run", "finish_run")]
    finish = r.inputs("finish_run")[0]
    assert finish["outcome"] == "Failed" and finish["failed_steps"] == ["a"]


def test_a_step_with_retries_runs_as_its_retry_sub_orchestration(orchestrator: Any) -> None:
    retry = {"a": {"max_attempts": 3, "first_retry_interval_ms": 2000, "backoff_coefficient": 2.0}}
    r = Replay(orchestrator, {"done": False, "deps": {"a": []}, "continue_on_step_failure": False, "retry": retry})
    (action,) = [a for a in flatten(r.state["actions"]) if a["actionType"] == CALL_SUB]
    assert action["functionName"] == "pipeline_step_retry"
    assert json.loads(action["input"]) == {"run_id": "run-1", "step": "a", "retry": retry["a"]}
    r.history.sub_scheduled(r.next_id, "pipeline_step_retry", action["input"]).completed()
    r.history.started().sub_done(r.next_id, {"step": "a", "status": "Finished", "reused": False, "error": None})
    r.state = r.replay()
    assert r.inputs("finish_run")[0]["outcome"] == "Finished"


@pytest.fixture(scope="module")
def retry_orchestrator() -> Any:
    return index_app(function_app.app).orchestrators["pipeline_step_retry"]


def test_retry_waits_with_exponential_backoff_then_gives_up(retry_orchestrator: Any) -> None:
    """Attempt 1 fails -> 2 s timer; attempt 2 fails -> 4 s (coefficient 2); attempt 3 fails -> the step fails."""
    payload = {"run_id": "run-1", "step": "a",
               "retry": {"max_attempts": 3, "first_retry_interval_ms": 2000, "backoff_coefficient": 2.0}}
    history = History("pipeline_step_retry", json.dumps(payload))

    def replay() -> dict[str, Any]:
        return dict(json.loads(retry_orchestrator(history.context(2))))

    call = json.dumps({"run_id": "run-1", "step": "a"})
    task_id, waits = 0, []
    for attempt in (1, 2, 3):
        last = flatten(replay()["actions"])[-1]
        assert last["actionType"] == CALL_ACTIVITY and last["functionName"] == "run_step"
        history.scheduled(task_id, "run_step", call).completed()
        history.started().task_failed(task_id, f"StepAttemptFailed: attempt {attempt} of 3")
        if attempt == 3:  # no attempt left: the sub-orchestration fails, so the parent sees the step fail
            with pytest.raises(Exception, match="attempt 3 of 3"):
                replay()
            break
        timer = flatten(replay()["actions"])[-1]
        fire_at = datetime.fromisoformat(timer["fireAt"].replace("Z", "+00:00"))
        waits.append((fire_at - history.t).total_seconds())  # from the orchestrator's current time
        history.timer(task_id + 1, fire_at).completed().started().timer_fired(task_id + 1, fire_at)
        task_id += 2
    assert waits == [2.0, 4.0]


def test_cancel_event_stops_scheduling_and_cancels_running_steps(orchestrator: Any) -> None:
    r = Replay(orchestrator, {"done": False, "deps": DIAMOND, "continue_on_step_failure": False, "retry": {}})
    r.schedule_new()
    r.step_done("a")
    r.history.started().event_raised("cancel", {"reason": "user"})
    r.state = r.replay()
    assert r.schedule_new() == [("settle_steps", "settle_steps")]
    settle = r.inputs("settle_steps")[0]
    assert settle["cancel"] == ["b", "c"] and list(settle["skipped"]) == ["d"]
    r.activity_done("settle_steps")
    assert r.state["customStatus"]["cancel_requested"] is True
    r.step_done("b", "Canceled")
    assert r.step_done("c", "Canceled") == [("finish_run", "finish_run")]
    assert r.inputs("finish_run")[0]["outcome"] == "Canceled"


def test_wide_fan_out_goes_to_sub_orchestrations(orchestrator: Any) -> None:
    wide = {f"s{i:03d}": [] for i in range(250)}
    r = Replay(orchestrator, {"done": False, "deps": wide, "continue_on_step_failure": False, "retry": {}})
    subs = [a for a in flatten(r.state["actions"]) if a["actionType"] == CALL_SUB]
    assert [len(json.loads(a["input"])["steps"]) for a in subs] == [100, 100, 50]
    assert not [a for a in flatten(r.state["actions"]) if a.get("functionName") == "run_step"]


def test_replaying_a_recorded_history_gives_the_same_actions(orchestrator: Any) -> None:
    r = Replay(orchestrator, {"done": False, "deps": DIAMOND, "continue_on_step_failure": False, "retry": {}})
    r.schedule_new()
    r.step_done("a")
    recorded = json.dumps(flatten(r.state["actions"]), sort_keys=True)
    for _ in range(3):  # a replay of the same history is the same decision, every time
        assert json.dumps(flatten(r.replay()["actions"]), sort_keys=True) == recorded


def _sub_calls(r: Replay) -> list[tuple[str, Any]]:
    return [(a["functionName"], json.loads(a["input"])) for a in flatten(r.state["actions"]) if a["actionType"] == CALL_SUB]


def test_a_step_runs_as_the_sub_orchestration_its_kind_names(orchestrator: Any) -> None:
    """start_run answers each step's orchestration from the step-kind registry; the orchestrator only follows it."""
    r = Replay(orchestrator, {"done": False, "deps": {"a": [], "b": ["a"]}, "continue_on_step_failure": False,
                              "retry": {}, "orchestrators": {"a": "some_kind_step"}})
    assert _sub_calls(r) == [("some_kind_step", {"run_id": "run-1", "step": "a"})]
    assert not r.inputs("run_step")
    r.history.sub_scheduled(r.next_id, "some_kind_step", json.dumps({"run_id": "run-1", "step": "a"})).completed()
    r.history.started().sub_done(r.next_id, {"step": "a", "status": "Finished", "reused": False, "error": None})
    r.next_id += 1
    r.state = r.replay()
    assert r.schedule_new() == [("run_step", "b")]


def test_a_history_from_before_the_registry_still_replays_its_parallel_step(orchestrator: Any) -> None:
    """A run started by the previous code recorded ``parallel: [names]``; its replay schedules what it did then."""
    r = Replay(orchestrator, {"done": False, "deps": {"p": []}, "continue_on_step_failure": False, "retry": {},
                              "parallel": ["p"]})
    assert _sub_calls(r) == [("parallel_step", {"run_id": "run-1", "step": "p"})]


def test_a_wide_fan_out_hands_each_chunk_the_orchestrations_of_its_steps(orchestrator: Any) -> None:
    wide = {f"s{i:03d}": [] for i in range(150)}
    r = Replay(orchestrator, {"done": False, "deps": wide, "continue_on_step_failure": False, "retry": {},
                              "orchestrators": {"s120": "parallel_step"}})
    chunks = [payload for name, payload in _sub_calls(r) if name == "pipeline_steps_chunk"]
    assert [c["orchestrators"] for c in chunks] == [{}, {"s120": "parallel_step"}]


def test_a_step_started_next_to_running_ones_comes_with_a_timer_due_now(orchestrator: Any) -> None:
    """The extension awaits only a yield's new tasks: without the timer, a's end would go unnoticed until c's."""
    graph = {"a": [], "b": [], "c": ["b"], "d": ["a"]}
    r = Replay(orchestrator, {"done": False, "deps": graph, "continue_on_step_failure": False, "retry": {}})
    assert r.schedule_new() == [("run_step", "a"), ("run_step", "b")]
    assert not r.unfired and "timer:0" not in r.ids  # both new at the first wait: no timer
    assert r.step_done("b") == [("run_step", "c")]
    assert "timer:0" in r.ids  # c joined the running a
    assert r.step_done("a") == [("run_step", "d")]


def test_a_chain_of_activities_waits_with_no_timer_and_still_ends_canceled_on_a_cancel(orchestrator: Any) -> None:
    """Beside the old cancel event a chain's next step needs no timer: a cancel also flags the run's row, which the
    running step reads and ends on. Each timer is a stored episode and a replay, on every step of a chain."""
    r = Replay(orchestrator, {"done": False, "deps": {"a": [], "b": ["a"], "c": ["b"]},
                              "continue_on_step_failure": False, "retry": {}})
    assert r.schedule_new() == [("run_step", "a")]
    assert r.step_done("a") == [("run_step", "b")]
    assert "timer:0" not in r.ids
    r.history.started().event_raised("cancel", {"reason": "user"})  # the step reads the flag and ends Canceled
    r.step_done("b", "Canceled")
    assert "timer:0" not in r.ids
    settle = r.inputs("settle_steps")[0]
    assert list(settle["skipped"]) == ["c"]
    r.activity_done("settle_steps")
    assert r.inputs("finish_run")[0]["outcome"] == "Canceled"


def test_a_chain_step_in_a_sub_orchestration_still_waits_with_a_timer(orchestrator: Any) -> None:
    """A retried step may sit in a backoff timer for minutes: the old cancel event must be noticed on its own."""
    retry = {"b": {"max_attempts": 3, "first_retry_interval_ms": 60000, "backoff_coefficient": 2.0}}
    r = Replay(orchestrator, {"done": False, "deps": {"a": [], "b": ["a"]}, "continue_on_step_failure": False,
                              "retry": retry})
    r.schedule_new()
    r.step_done("a")
    assert [a["functionName"] for a in flatten(r.state["actions"]) if a["actionType"] == CALL_SUB] == \
        ["pipeline_step_retry"]
    assert "timer:0" in r.ids
