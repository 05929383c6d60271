"""Replay through the SDK with hand-built histories, and the determinism guards.

These feed ``DurableOrchestrationContext``-shaped JSON straight into the
DFApp handles (no engine), so they pin down the history/action protocol the
engine relies on: event shapes, task-id numbering (retries included) and the
V1/V2/V3 action schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest
from durable_history import T0, History  # noqa: E402

from amlite_devhost.app_loader import LoadedApp, index_app
from amlite_devhost.durable import SCHEMA_V1, SCHEMA_V2, DurableEngine, RuntimeStatus
from amlite_devhost.durable.history import EventType, format_timestamp
from amlite_devhost.durable.replayer import ActionReplayer, ScheduleActivity, ScheduleTimer, top_level_actions


def run(app: LoadedApp, name: str, history: History, schema: int = 1) -> dict[str, Any]:
    state = app.orchestrators[name](history.context(schema))
    return dict(json.loads(state))


def activity(name: str, value: Any) -> dict[str, Any]:
    return {"actionType": 0, "functionName": name, "input": json.dumps(value)}


def test_first_episode_schedules_the_first_activity(sample_app: LoadedApp) -> None:
    state = run(sample_app, "chain", History("chain", "1"))
    assert state == {"isDone": False, "schemaVersion": 1, "actions": [[activity("add_one", 1)]]}


def test_completed_task_feeds_the_next_step_and_custom_status(sample_app: LoadedApp) -> None:
    h = History("chain", "1").scheduled(0, "add_one", "1").completed().started().task_done(0, 2)
    state = run(sample_app, "chain", h)
    assert state["actions"] == [[activity("add_one", 1), activity("add_one", 2)]]
    assert state["customStatus"] == {"step": 1}
    assert state["isDone"] is False


def test_full_chain_history_finishes_with_output(sample_app: LoadedApp) -> None:
    h = History("chain", "1").scheduled(0, "add_one", "1").completed()
    h.started().task_done(0, 2).scheduled(1, "add_one", "2").completed()
    h.started().task_done(1, 3).scheduled(2, "async_double", "3").completed()
    h.started().task_done(2, 6).scheduled(3, "hello", '"6"').completed()
    h.started().task_done(3, "Hello 6")
    state = run(sample_app, "chain", h)
    assert state["isDone"] is True
    assert state["output"] == {"value": 6, "greeting": "Hello 6"}
    assert len(state["actions"][0]) == 4


def test_fan_out_schema_v2_is_one_compound_when_all(sample_app: LoadedApp) -> None:
    state = run(sample_app, "fan_out", History("fan_out", "3"))
    assert state["actions"] == [[{"actionType": 12, "compoundActions": [activity("add_one", i) for i in range(3)]}]]


def test_fan_out_schema_v1_is_a_nested_action_list(sample_app: LoadedApp) -> None:
    state = run(sample_app, "fan_out", History("fan_out", "3"), schema=0)
    assert "schemaVersion" not in state
    assert state["actions"] == [[activity("add_one", i) for i in range(3)]]


def test_fan_in_completions_in_any_order(sample_app: LoadedApp) -> None:
    h = History("fan_out", "3")
    for i in range(3):
        h.scheduled(i, "add_one", str(i))
    h.completed().started().task_done(2, 3).task_done(0, 1)
    assert run(sample_app, "fan_out", h)["isDone"] is False
    h.completed().started().task_done(1, 2)
    state = run(sample_app, "fan_out", h)
    assert state["isDone"] is True and state["output"] == 6


def test_retry_ids_interleave_attempts_and_timers(sample_app: LoadedApp) -> None:
    """Attempt 0 fails, retry timer is id 1, attempt 2 succeeds: the numbering the engine writes."""
    retry_action = {"actionType": 1, "functionName": "flaky", "input": '"k"',
                    "retryOptions": {"firstRetryIntervalInMilliseconds": 50, "maxNumberOfAttempts": 3}}
    h = History("retry_orch", '"k"').scheduled(0, "flaky", '"k"').completed()
    h.started().task_failed(0, "boom")
    state = run(sample_app, "retry_orch", h)
    # V2 wraps a retryable task in a one-child WhenAll (RetryAbleTask is a WhenAllTask).
    assert state["actions"] == [[{"actionType": 12, "compoundActions": [retry_action]}]]
    assert state["isDone"] is False
    fire = T0 + timedelta(seconds=10)
    h.timer(1, fire).completed().started().timer_fired(1, fire)
    h.scheduled(2, "flaky", '"k"').completed().started().task_done(2, "k ok")
    state = run(sample_app, "retry_orch", h)
    assert state["isDone"] is True and state["output"] == "k ok"


def test_retry_gives_up_after_the_extra_timer(sample_app: LoadedApp) -> None:
    fire = T0 + timedelta(seconds=10)
    h = History("retry_exhausted").scheduled(0, "explode", '"always"').completed()
    h.started().task_failed(0, "Activity function 'explode' failed: ValueError: always")
    h.timer(1, fire).completed().started().timer_fired(1, fire).scheduled(2, "explode", '"always"').completed()
    h.started().task_failed(2, "Activity function 'explode' failed: ValueError: always").timer(3, fire).completed()
    assert run(sample_app, "retry_exhausted", h)["isDone"] is False  # waits for the last timer
    h.started().timer_fired(3, fire)
    state = run(sample_app, "retry_exhausted", h)
    assert state["isDone"] is True
    assert state["output"].startswith("gave up: Activity function 'explode' failed")


def test_external_event_beats_timer_and_cancels_it(sample_app: LoadedApp) -> None:
    h = History("approval", "5")
    state = run(sample_app, "approval", h)
    (when_any,) = state["actions"][0]
    assert when_any["actionType"] == 11
    event, timer = when_any["compoundActions"]
    assert timer["actionType"] == 5 and timer["isCanceled"] is False
    assert timer["fireAt"] == format_timestamp(T0 + timedelta(seconds=6))  # OrchestratorStarted + 5 s
    assert event == {"actionType": 6, "externalEventName": "Approve", "reason": "ExternalEvent"}
    h.timer(0, T0 + timedelta(seconds=6)).completed().started().event_raised("Approve", "alice")
    state = run(sample_app, "approval", h)
    assert state["isDone"] is True and state["output"] == {"approved": True, "by": "alice"}
    assert state["actions"][0][0]["compoundActions"][1]["isCanceled"] is True


def test_timer_wins_when_it_fires_first(sample_app: LoadedApp) -> None:
    fire = T0 + timedelta(seconds=6)
    h = History("approval", "5").timer(0, fire).completed().started().timer_fired(0, fire)
    state = run(sample_app, "approval", h)
    assert state["isDone"] is True and state["output"] == {"approved": False}


def test_current_utc_datetime_comes_from_orchestrator_started(sample_app: LoadedApp) -> None:
    fire = T0 + timedelta(seconds=1.5)
    h = History("timer_orch", "0.5").timer(0, fire).completed()
    h.t = T0 + timedelta(seconds=1)  # next OrchestratorStarted at +2 s
    h.started().timer_fired(0, fire)
    state = run(sample_app, "timer_orch", h)
    assert state["output"] == 1.0  # 2 s - 1 s, from history timestamps, not the wall clock


def test_continue_as_new_action(sample_app: LoadedApp) -> None:
    h = History("counter", "0").scheduled(0, "add_one", "0").completed().started().task_done(0, 1)
    state = run(sample_app, "counter", h)
    assert state["isDone"] is True
    assert state["actions"][0][-1] == {"actionType": 4, "input": "1"}


def test_schema_v3_is_emitted_when_offered(sample_app: LoadedApp) -> None:
    state = json.loads(sample_app.orchestrators["chain"](History("chain", "1").context(1, new=2)))
    assert state["schemaVersion"] == 2


# ---------------------------------------------------------------- extension-side replayer


def test_replayer_numbers_tasks_like_the_sdk() -> None:
    r = ActionReplayer("i")
    retry = {"actionType": 1, "functionName": "f", "input": "1",
             "retryOptions": {"firstRetryIntervalInMilliseconds": 100, "maxNumberOfAttempts": 2,
                              "backoffCoefficient": 2}}
    work, emitted = r.apply([{"EventType": EventType.EXECUTION_STARTED}], [retry], T0)
    assert work == [ScheduleActivity(0, "f", "1")]
    assert [e["EventType"] for e in emitted] == [EventType.TASK_SCHEDULED]
    work, _ = r.apply([{"EventType": EventType.TASK_FAILED, "TaskScheduledId": 0}], [retry], T0)
    assert work == [ScheduleTimer(1, T0 + timedelta(milliseconds=100))]
    work, _ = r.apply([{"EventType": EventType.TIMER_FIRED, "TimerId": 1}], [retry], T0)
    assert work == [ScheduleActivity(2, "f", "1")]
    work, _ = r.apply([{"EventType": EventType.TASK_FAILED, "TaskScheduledId": 2}], [retry], T0)
    assert work == [ScheduleTimer(3, T0 + timedelta(milliseconds=200))]  # backoff honoured
    nxt = {"actionType": 0, "functionName": "g", "input": "2"}
    work, _ = r.apply([{"EventType": EventType.TIMER_FIRED, "TimerId": 3}], [retry, nxt], T0)
    assert work == [ScheduleActivity(4, "g", "2")]  # retry gave up, next action invoked


def test_replayer_flags_changed_actions() -> None:
    from amlite_devhost.durable import NonDeterminismError

    r = ActionReplayer("i")
    r.apply([{"EventType": EventType.EXECUTION_STARTED}], [activity("a", 1)], T0)
    with pytest.raises(NonDeterminismError, match="changed between replays"):
        r.apply([], [activity("b", 1)], T0)


def test_top_level_actions_by_schema() -> None:
    assert top_level_actions({"actions": [[1, 2]], "schemaVersion": 1}) == [1, 2]
    assert top_level_actions({"actions": [[1], [2]]}) == [[1], [2]]
    assert top_level_actions({"actions": []}) == []


# ---------------------------------------------------------------- determinism on recorded histories


def _flatten(actions: list[Any]) -> Iterator[tuple[str, str | None]]:
    for action in actions:
        if isinstance(action, list):
            yield from _flatten(action)
        elif action["actionType"] in (11, 12):
            yield from _flatten(action["compoundActions"])
        elif action["actionType"] in (0, 2):
            yield action["functionName"], action.get("input")


@pytest.mark.parametrize("schema", [SCHEMA_V1, SCHEMA_V2])
@pytest.mark.parametrize("name, value", [("chain", 2), ("fan_out", 25), ("parent", None)])
def test_recorded_history_replays_to_the_same_actions(sample_app: LoadedApp, schema: int, name: str,
                                                      value: Any) -> None:
    with DurableEngine.from_app(sample_app, schema_version=schema) as engine:
        iid = engine.start_new(name, input=value)
        status = engine.wait_for_completion(iid, 10)
        assert status.runtime_status == RuntimeStatus.COMPLETED
        history = engine.history(iid)
    scheduled = [(e["Name"], e["Input"]) for e in history
                 if e["EventType"] in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)]
    context = json.dumps({"history": history, "instanceId": iid, "isReplaying": True, "parentInstanceId": None,
                          "input": json.dumps(value) if value is not None else None,
                          "upperSchemaVersion": min(schema, 1)})
    first = json.loads(sample_app.orchestrators[name](context))
    again = json.loads(sample_app.orchestrators[name](context))
    assert first == again
    assert first["isDone"] is True and first["output"] == status.output
    assert list(_flatten(first["actions"])) == scheduled


nd_app = df.DFApp()
_calls = {"n": 0}


@nd_app.orchestration_trigger(context_name="context")
def wobbly(context: df.DurableOrchestrationContext):
    _calls["n"] += 1  # a global that changes between replays: not deterministic
    yield context.call_activity("echo", _calls["n"])
    yield context.call_activity("echo", 0)
    return "done"


@nd_app.activity_trigger(input_name="value")
def echo(value: Any) -> Any:
    return value


def test_engine_fails_a_nondeterministic_orchestrator() -> None:
    with DurableEngine.from_app(index_app(nd_app)) as engine:
        iid = engine.start_new("wobbly")
        status = engine.wait_for_completion(iid, 10)
    assert status.runtime_status == RuntimeStatus.FAILED
    assert "deterministic" in status.output and "action #0 changed" in status.output
