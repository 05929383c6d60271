"""The in-memory durable engine driven through its Python API (no sockets)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from amlite_devhost.app_loader import LoadedApp
from amlite_devhost.durable import (
    SCHEMA_V1,
    SCHEMA_V2,
    SCHEMA_V3,
    DurableEngine,
    InstanceCompletedError,
    InstanceExistsError,
    InstanceNotFoundError,
    InstanceStatus,
    OrchestratorNotFoundError,
    RuntimeStatus,
)
from amlite_devhost.durable.history import EventType


def run(engine: DurableEngine, name: str, value: Any = None, timeout: float = 10) -> InstanceStatus:
    return engine.wait_for_completion(engine.start_new(name, input=value), timeout)


def test_chain_output_and_custom_status(engine: DurableEngine) -> None:
    status = run(engine, "chain", 1)
    assert status.runtime_status == RuntimeStatus.COMPLETED
    assert status.output == {"value": 6, "greeting": "Hello 6"}
    assert status.custom_status == {"step": 4}
    assert status.input_value == 1
    assert status.created_time <= status.last_updated_time


def test_fan_out_batches_completions(engine: DurableEngine) -> None:
    status = run(engine, "fan_out", 300)
    assert status.output == sum(range(1, 301))
    # 300 completions, a handful of replays: completions are batched per replay.
    assert status.replays < 30


@pytest.mark.parametrize("schema", [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3])
def test_retry_honours_interval_and_attempts(sample_app: LoadedApp, schema: int) -> None:
    attempts = sample_app.module.FLAKY_ATTEMPTS
    key = f"retry-{schema}"
    with DurableEngine.from_app(sample_app, schema_version=schema) as engine:
        began = time.monotonic()
        status = run(engine, "retry_orch", key)
        elapsed = time.monotonic() - began
    assert status.runtime_status == RuntimeStatus.COMPLETED, status.output
    assert status.output == f"{key} ok after 3"
    assert attempts[key] == 3
    assert elapsed >= 0.1  # two retries, 50 ms first interval each


def test_retry_exhausted_surfaces_the_last_failure(engine: DurableEngine) -> None:
    status = run(engine, "retry_exhausted")
    assert status.runtime_status == RuntimeStatus.COMPLETED
    assert status.output == "gave up: Activity function 'explode' failed: ValueError: always "


def test_durable_timer_waits_and_time_is_deterministic(engine: DurableEngine) -> None:
    began = time.monotonic()
    status = run(engine, "timer_orch", 0.2)
    assert time.monotonic() - began >= 0.2
    assert status.output >= 0.2  # measured with context.current_utc_datetime


@pytest.mark.parametrize("schema", [SCHEMA_V1, SCHEMA_V3])
def test_external_event_wins_race_against_timer(sample_app: LoadedApp, schema: int) -> None:
    with DurableEngine.from_app(sample_app, schema_version=schema) as engine:
        iid = engine.start_new("approval", input=30)
        time.sleep(0.05)
        engine.raise_event(iid, "Approve", {"who": "ana"})
        status = engine.wait_for_completion(iid, 5)
    assert status.output == {"approved": True, "by": {"who": "ana"}}


def test_timer_wins_race_without_event(engine: DurableEngine) -> None:
    status = run(engine, "approval", 0.1)
    assert status.output == {"approved": False}


def test_event_raised_before_the_orchestrator_waits_is_buffered(engine: DurableEngine) -> None:
    iid = engine.start_new("approval", input=30)
    engine.raise_event(iid, "Approve", "early")  # likely before the first replay
    assert engine.wait_for_completion(iid, 5).output == {"approved": True, "by": "early"}


def test_sub_orchestrations(engine: DurableEngine) -> None:
    iid = engine.start_new("parent", instance_id="par-1")
    status = engine.wait_for_completion(iid, 10)
    assert status.output == {"chain": {"value": 6, "greeting": "Hello 6"}, "fan_out": 15}
    child = engine.get_status("par-1-fan")
    assert child is not None and child.parent_instance_id == "par-1"
    assert child.runtime_status == RuntimeStatus.COMPLETED
    events = [e["EventType"] for e in engine.history("par-1")]
    assert events.count(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED) == 2
    assert events.count(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED) == 2


def test_continue_as_new_restarts_with_new_input(engine: DurableEngine) -> None:
    status = run(engine, "counter", 0)
    assert status.runtime_status == RuntimeStatus.COMPLETED
    assert status.output == 3
    assert status.input_value == 2  # the last execution's input
    started = [e for e in engine.history(status.instance_id) if e["EventType"] == EventType.EXECUTION_STARTED]
    assert len(started) == 1  # history restarts with each execution


def test_failing_activity_fails_the_orchestration(engine: DurableEngine) -> None:
    status = run(engine, "failing")
    assert status.runtime_status == RuntimeStatus.FAILED
    assert status.output.startswith("Orchestrator function 'failing' failed: Activity function 'explode' "
                                    "failed: ValueError: boom")


def test_terminate_purge_and_errors(engine: DurableEngine) -> None:
    iid = engine.start_new("approval", instance_id="term-1", input=60)
    with pytest.raises(InstanceExistsError, match="already exists and is"):
        engine.start_new("approval", instance_id="term-1")
    engine.terminate(iid, "enough")
    status = engine.wait_for_completion(iid, 5)
    assert status.runtime_status == RuntimeStatus.TERMINATED and status.output == "enough"
    with pytest.raises(InstanceCompletedError):
        engine.raise_event(iid, "Approve", 1)
    with pytest.raises(InstanceCompletedError):
        engine.terminate(iid, "again")
    # a finished id may be reused
    engine.terminate(engine.start_new("approval", instance_id="term-1", input=60), "twice")
    assert engine.purge(iid) is True
    assert engine.get_status(iid) is None
    assert engine.purge(iid) is False
    with pytest.raises(InstanceNotFoundError):
        engine.raise_event("nope", "x")
    with pytest.raises(OrchestratorNotFoundError, match="Registered orchestrators"):
        engine.start_new("does_not_exist")


def test_an_instance_terminated_before_its_first_episode_still_shows_its_start(engine: DurableEngine) -> None:
    """Durable plays the start and the terminate message in one batch: the history opens with the start."""
    for n in range(20):  # terminated at once: most of these before the dispatcher played their first episode
        iid = engine.start_new("approval", instance_id=f"term-early-{n}", input=60)
        engine.terminate(iid, "at once")
        status = engine.get_status(iid, show_history=True)
        assert status is not None and status.history is not None
        types = [e["EventType"] for e in status.history]
        assert types[:2] == [EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_STARTED], types
        assert types[-1] == EventType.EXECUTION_TERMINATED


def test_status_history_and_listing(engine: DurableEngine) -> None:
    iid = engine.start_new("chain", instance_id="hist-1", input=1)
    engine.wait_for_completion(iid, 5)
    status = engine.get_status(iid, show_history=True)
    assert status is not None and status.history is not None
    body = status.to_json(show_history_output=True)
    kinds = [e["EventType"] for e in body["historyEvents"]]
    assert kinds[:2] == ["OrchestratorStarted", "ExecutionStarted"]
    assert kinds[-1] == "ExecutionCompleted"
    assert kinds.count("TaskCompleted") == 4
    assert {s.instance_id for s in engine.list_instances(prefix="hist-")} == {"hist-1"}
    assert all(s.runtime_status == RuntimeStatus.COMPLETED
               for s in engine.list_instances(statuses=["Completed"]))


def test_wait_timeout_and_listener(sample_app: LoadedApp) -> None:
    seen: list[tuple[str, RuntimeStatus]] = []
    with DurableEngine.from_app(sample_app) as engine:
        engine.add_listener(lambda s: seen.append((s.instance_id, s.runtime_status)))
        iid = engine.start_new("approval", input=60)
        with pytest.raises(TimeoutError, match="still Running"):
            engine.wait_for_completion(iid, 0.1)
        engine.raise_event(iid, "Approve", True)
        engine.wait_for_completion(iid, 5)
    assert (iid, RuntimeStatus.RUNNING) in seen and (iid, RuntimeStatus.COMPLETED) in seen


def test_many_concurrent_instances(engine: DurableEngine) -> None:
    ids = [engine.start_new("chain", input=i) for i in range(20)]
    outputs = [engine.wait_for_completion(i, 10).output["value"] for i in ids]
    assert outputs == [2 * (i + 2) for i in range(20)]


def test_start_from_many_threads(engine: DurableEngine) -> None:
    ids: list[str] = []

    def starter() -> None:
        ids.append(engine.start_new("fan_out", input=5))

    threads = [threading.Thread(target=starter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [engine.wait_for_completion(i, 10).output for i in ids] == [15] * 8


@pytest.mark.parametrize("schema", [SCHEMA_V1, SCHEMA_V3])
def test_sub_orchestration_with_retry(sample_app: LoadedApp, schema: int) -> None:
    key = f"sub-retry-{schema}"
    with DurableEngine.from_app(sample_app, schema_version=schema) as engine:
        iid = engine.start_new("retry_child", input=key)
        status = engine.wait_for_completion(iid, 10)
        children = [s for s in engine.list_instances(prefix=f"{iid}:")]
    assert status.runtime_status == RuntimeStatus.COMPLETED, status.output
    assert status.output == f"{key} ok after 3"
    assert sorted(c.runtime_status.value for c in children) == ["Completed", "Failed", "Failed"]


def test_when_any_over_activities(engine: DurableEngine) -> None:
    assert run(engine, "race").output in (3, 12)
