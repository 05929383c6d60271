"""The dev host's engine with its orchestration store (Azurite): a host that stops resumes elsewhere.

A crash is an engine that stops writing at once (``abandon``), as a killed
process would; another engine with another owner id then adopts what it left.
Orchestrators run through azure-functions-durable's own replay, as always.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from amlite_devhost.app_loader import LoadedApp, index_app
from amlite_devhost.durable import DurableEngine, InstanceExistsError, RuntimeStatus
from amlite_devhost.durable.history import EventType
from amlite_devhost.durable.store import OrchestrationStore

app = df.DFApp()
CALLS: Counter[str] = Counter()
GATES: dict[str, threading.Event] = {}
_lock = threading.Lock()


def _gate(key: str) -> threading.Event:
    with _lock:
        return GATES.setdefault(key, threading.Event())


@app.activity_trigger(input_name="key")
def work(key: str) -> str:
    """Counts its calls; a key starting with ``wait:`` blocks until its gate opens (a long step)."""
    with _lock:
        CALLS[key] += 1
    if key.startswith("wait:"):
        _gate(key).wait(20)
    return f"done {key}"


@app.activity_trigger(input_name="key")
def flaky_once(key: str) -> str:
    with _lock:
        CALLS[key] += 1
        first = CALLS[key] == 1
    if first:
        raise RuntimeError("first attempt fails")
    return f"ok {key}"


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    tag = context.get_input()
    first = yield context.call_activity("work", f"{tag}:a")
    second = yield context.call_activity("work", f"wait:{tag}:b")
    third = yield context.call_activity("work", f"{tag}:c")
    return [first, second, third]


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    tag = context.get_input()
    keys = [f"wait:{tag}:{i}" if i % 5 == 1 else f"{tag}:{i}" for i in range(20)]
    results = yield context.task_all([context.call_activity("work", k) for k in keys])
    return len(results)


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    tag = context.get_input()
    before = yield context.call_activity("work", f"{tag}:before")
    child = yield context.call_sub_orchestrator("sequence", f"{tag}-child")
    return [before, child]


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    tag = context.get_input()
    yield context.call_activity("work", f"{tag}:asked")
    answer = yield context.wait_for_external_event("answer")
    return answer


@app.orchestration_trigger(context_name="context")
def delayed(context: df.DurableOrchestrationContext):
    yield context.call_activity("work", f"{context.get_input()}:before")
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    return "fired"


@app.orchestration_trigger(context_name="context")
def retried(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=800, max_number_of_attempts=3)
    return (yield context.call_activity_with_retry("flaky_once", options, context.get_input()))


@pytest.fixture(scope="module")
def loaded() -> LoadedApp:
    return index_app(app)


@pytest.fixture
def hub() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def engines(loaded: LoadedApp, azurite: str, hub: str) -> Iterator[Callable[[str], DurableEngine]]:
    made: list[DurableEngine] = []

    def make(owner: str) -> DurableEngine:
        engine = DurableEngine.from_app(loaded, max_workers=8,
                                        store=OrchestrationStore(azurite, hub, owner=owner))
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for gate in GATES.values():
            gate.set()
        for engine in made:
            engine.shutdown(wait=False)


def _until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _stored_events(engine: DurableEngine, iid: str, event_type: EventType) -> int:
    assert engine.store is not None
    found = engine.store.load(iid)
    return 0 if found is None else sum(1 for e in found.history if e["EventType"] == event_type)


def _gone(*owners: str) -> Callable[[str], bool]:
    return lambda owner: owner in owners


def _sequence_resumes_on_host_b(engines: Callable[[str], DurableEngine], iid: str, tag: str) -> DurableEngine:
    """host-a is dead: host-b adopts the ``sequence`` instance, b's gate opens, and it completes with every result."""
    second = engines("host-b")
    assert second.adopt_orphans(_gone("host-a")) == [iid]
    _gate(f"wait:{tag}:b").set()
    status = second.wait_for_completion(iid, 10)
    assert status.runtime_status == RuntimeStatus.COMPLETED, status.output
    assert status.output == [f"done {tag}:a", f"done wait:{tag}:b", f"done {tag}:c"]
    return second


def test_finished_steps_stay_done_and_the_interrupted_one_runs_again(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("sequence", input=tag)
    _until(lambda: CALLS[f"wait:{tag}:b"] == 1)
    _until(lambda: _stored_events(first, iid, EventType.TASK_SCHEDULED) == 2)  # b's scheduling is stored
    first.abandon()  # the host dies while b runs

    second = _sequence_resumes_on_host_b(engines, iid, tag)
    assert CALLS[f"{tag}:a"] == 1  # finished before the crash: not run again
    assert CALLS[f"wait:{tag}:b"] == 2  # interrupted: run again, once
    assert CALLS[f"{tag}:c"] == 1
    assert second.store is not None
    record = second.store.get(iid)
    assert record is not None and record.status == "Completed" and record.owner == "host-b"


def test_a_live_owner_keeps_its_instances_and_one_claim_wins(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("sequence", input=tag)
    _until(lambda: _stored_events(first, iid, EventType.TASK_SCHEDULED) == 2)
    assert engines("host-b").adopt_orphans(_gone()) == []  # host-a is alive: nothing to take
    first.abandon()
    rivals = [engines("host-b"), engines("host-c")]
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def adopt(index: int) -> None:
        barrier.wait()
        results[index] = rivals[index].adopt_orphans(_gone("host-a"))

    threads = [threading.Thread(target=adopt, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(len(r) for r in results) == [0, 1]  # exactly one host resumes it
    winner = rivals[0] if results[0] else rivals[1]
    _gate(f"wait:{tag}:b").set()
    assert winner.wait_for_completion(iid, 10).runtime_status == RuntimeStatus.COMPLETED
    assert CALLS[f"{tag}:c"] == 1


def test_fan_out_resumes_only_the_unfinished_tasks(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("fan", input=tag)
    _until(lambda: _stored_events(first, iid, EventType.TASK_COMPLETED) == 16)  # the quick ones, stored
    first.abandon()
    second = engines("host-b")
    assert second.adopt_orphans(_gone("host-a")) == [iid]
    slow = [i for i in range(20) if i % 5 == 1]
    for i in slow:
        _gate(f"wait:{tag}:{i}").set()
    status = second.wait_for_completion(iid, 10)
    assert status.runtime_status == RuntimeStatus.COMPLETED and status.output == 20
    assert all(CALLS[f"{tag}:{i}"] == 1 for i in range(20) if i not in slow)
    assert all(CALLS[f"wait:{tag}:{i}"] == 2 for i in slow)


def test_a_sub_orchestration_resumes_with_its_parent(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("parent", input=tag)
    child = f"{tag}-child"
    _until(lambda: CALLS[f"wait:{child}:b"] == 1)
    _until(lambda: _stored_events(first, f"{iid}:1", EventType.TASK_SCHEDULED) == 2)
    first.abandon()
    second = engines("host-b")
    assert second.adopt_orphans(_gone("host-a")) == [iid]  # the root; its child comes along
    _gate(f"wait:{child}:b").set()
    status = second.wait_for_completion(iid, 10)
    assert status.runtime_status == RuntimeStatus.COMPLETED, status.output
    assert status.output[1] == [f"done {child}:a", f"done wait:{child}:b", f"done {child}:c"]
    assert CALLS[f"{tag}:before"] == 1 and CALLS[f"{child}:a"] == 1 and CALLS[f"wait:{child}:b"] == 2


def test_a_raised_event_is_not_lost(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("approval", input=tag)
    _until(lambda: _stored_events(first, iid, EventType.TASK_COMPLETED) == 1)
    first.raise_event(iid, "answer", "yes")  # stored before the call returns
    first.abandon()
    second = engines("host-b")
    second.adopt_orphans(_gone("host-a"))
    status = second.wait_for_completion(iid, 10)
    assert status.output == "yes"
    assert CALLS[f"{tag}:asked"] == 1


def test_timers_and_retry_timers_keep_their_time(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    timed = first.start_new("delayed", input=tag)
    retry = first.start_new("retried", input=f"{tag}:flaky")
    _until(lambda: _stored_events(first, timed, EventType.TIMER_CREATED) == 1)
    _until(lambda: _stored_events(first, retry, EventType.TIMER_CREATED) == 1)
    first.abandon()
    began = time.monotonic()
    second = engines("host-b")
    assert sorted(second.adopt_orphans(_gone("host-a"))) == sorted([timed, retry])
    assert second.wait_for_completion(timed, 10).output == "fired"
    assert second.wait_for_completion(retry, 10).output == f"ok {tag}:flaky"
    assert CALLS[f"{tag}:flaky"] == 2 and CALLS[f"{tag}:before"] == 1
    assert time.monotonic() - began < 5


def test_draining_finishes_running_work_and_leaves_the_rest_stored(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("sequence", input=tag)
    _until(lambda: CALLS[f"wait:{tag}:b"] == 1)
    assert first.drain(0.2) is False  # b still runs
    _gate(f"wait:{tag}:b").set()
    assert first.drain(5) is True  # b finished within the grace, and its completion is stored
    assert _stored_events(first, iid, EventType.TASK_COMPLETED) == 2
    assert CALLS[f"{tag}:c"] == 0  # scheduled, stored, not started
    first.shutdown()
    second = engines("host-b")
    assert second.adopt_orphans(_gone("host-a")) == [iid]
    assert second.wait_for_completion(iid, 10).runtime_status == RuntimeStatus.COMPLETED
    assert CALLS[f"wait:{tag}:b"] == 1 and CALLS[f"{tag}:c"] == 1


def test_a_live_stored_instance_id_cannot_be_started_twice(engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    iid = first.start_new("sequence", f"same-{tag}", input=tag)
    with pytest.raises(InstanceExistsError, match="host-a"):
        engines("host-b").start_new("sequence", iid, input=tag)
    _gate(f"wait:{tag}:b").set()
    assert first.wait_for_completion(iid, 10).runtime_status == RuntimeStatus.COMPLETED
    again = engines("host-b")
    again.start_new("sequence", iid, input=tag)  # a finished one is replaced, as Durable does
    assert again.wait_for_completion(iid, 10).runtime_status == RuntimeStatus.COMPLETED
    assert again.get_status(iid) is not None and engines("host-c").get_status(iid) is not None


def test_a_child_that_ended_while_its_parent_was_not_told_delivers_its_stored_result(
        engines: Callable[[str], DurableEngine]) -> None:
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    child = f"{tag}-child"
    ended = threading.Event()

    def crash_when_the_child_ends(status: Any) -> None:
        if status.instance_id.endswith(":1") and status.runtime_status.is_terminal:
            first.abandon()  # the parent has not stored the child's completion (or just has: both must work)
            ended.set()

    first.add_listener(crash_when_the_child_ends)
    iid = first.start_new("parent", input=tag)
    _gate(f"wait:{child}:b").set()
    assert ended.wait(10)
    second = engines("host-b")
    assert second.adopt_orphans(_gone("host-a")) == [iid]
    status = second.wait_for_completion(iid, 10)
    assert status.runtime_status == RuntimeStatus.COMPLETED, status.output
    assert status.output[1] == [f"done {child}:a", f"done wait:{child}:b", f"done {child}:c"]
    assert CALLS[f"{child}:a"] == 1 and CALLS[f"wait:{child}:b"] == 1 and CALLS[f"{child}:c"] == 1


def test_an_activity_starts_while_its_episode_is_stored_and_a_host_lost_before_the_write_runs_it_again(
        engines: Callable[[str], DurableEngine]) -> None:
    """As the Azure Storage provider does (messages out, then history): the next step does not wait for the write.

    A host that dies between the two leaves the last stored episode; the next host replays from it, makes the same
    decision, and the activity runs again (at least once, as always)."""
    tag = uuid.uuid4().hex[:8]
    first = engines("host-a")
    assert first.store is not None
    store, commit = first.store, first.store.commit
    held, released = threading.Event(), threading.Event()
    commits: list[int] = []

    def slow_commit(*args: Any, **kwargs: Any) -> Any:
        commits.append(args[1])
        if len(commits) == 2:  # the second episode: a's completion, b scheduled
            held.set()
            released.wait(30)  # storage that hangs until the host is gone: the write never lands
            return None
        return commit(*args, **kwargs)

    store.commit = slow_commit  # type: ignore[method-assign]
    iid = first.start_new("sequence", input=tag)
    _until(lambda: held.is_set())
    _until(lambda: CALLS[f"wait:{tag}:b"] == 1)  # b started while its scheduling was still being written
    assert _stored_events(first, iid, EventType.TASK_SCHEDULED) == 1  # only a's scheduling is stored
    first.abandon()  # the host dies before the write

    _sequence_resumes_on_host_b(engines, iid, tag)
    released.set()
    # a's completion was in the lost episode too, so a runs again, as it would have before this change
    assert CALLS[f"{tag}:a"] == 2 and CALLS[f"wait:{tag}:b"] == 2 and CALLS[f"{tag}:c"] == 1
