"""Data-change schedules end to end against Azurite: the repo's app in the dev host delivers blob triggers.

Assertions count ``fired`` decisions and runs, not every decision: another
host on the same storage (the HTTP suite's) also delivers these uploads, and
its late copy of an event is rightly recorded as ``skipped: duplicate``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest
from publish_helpers import echo_pipeline, upload_text, wait_terminal

from amlite_devhost.timers import parse_schedule
from amlite_local.host import DevHost
from pipeline_core import Datastore, PublishedPipeline, Schedule, ScheduleRecurrence, Workspace
from pipeline_core.backend.remote import RemoteBackend
from pipeline_core.engine.services import Services, services_for
from pipeline_core.schedules.data_change import BlobChange, on_blob_changed
from pipeline_core.schedules.firing import local_starter
from pipeline_core.schedules.tick import TICK_SCHEDULE, run_tick
from pipeline_core.storage.schedule_store import ScheduleStore, iso

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def devhost(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app with its blob trigger (timers off: the tests tick themselves)."""
    values = {"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none"}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, load_settings=False).start()
    try:
        assert host.blobs is not None and [w.info.name for w in host.blobs.watches] == ["schedules_blob_changed"]
        yield host
    finally:
        host.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def services(workspace: Workspace) -> Services:
    return services_for(workspace.storage)


@pytest.fixture
def published(workspace: Workspace, source_dir: Path, tmp_path: Path) -> PublishedPipeline:
    """The echo pipeline: its DataPath parameter ``data`` is what a data-change schedule sets."""
    return echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "default data")).publish(
        name=f"dc-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def made(workspace: Workspace) -> Iterator[list[Schedule]]:
    schedules: list[Schedule] = []
    yield schedules
    for schedule in schedules:
        schedule.disable()


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.05)


def fired(schedule: Schedule) -> list[dict[str, Any]]:
    return [d for d in schedule.get_history(200) if d["Decision"] == "fired"]


def reasons(schedule: Schedule, reason: str) -> list[dict[str, Any]]:
    return [d for d in schedule.get_history(200) if d["Reason"] == reason]


def test_a_blob_landing_under_the_path_starts_a_run_with_it_as_datapath(
        devhost: DevHost, workspace: Workspace, published: PublishedPipeline, experiment_name: str,
        made: list[Schedule], services: Services) -> None:
    folder = f"incoming-{uuid.uuid4().hex[:8]}/"
    ds = workspace.get_default_datastore()
    schedule = Schedule.create(workspace, "on-upload", published.id, experiment_name, datastore=ds,
                               path_on_datastore=folder, data_path_parameter_name="data")
    made.append(schedule)
    assert (schedule.datastore_name, schedule.path_on_datastore, schedule.recurrence) == \
        ("workspaceblobstore", folder, None)
    assert schedule.get_last_pipeline_run() is None  # a data-change schedule does not run at creation

    began = time.monotonic()
    ds._container.upload_blob(f"{folder}batch-1.txt", b"the uploaded batch")
    (decision,) = wait_until(lambda: fired(schedule))
    queued = time.monotonic() - began
    assert (decision["Trigger"], decision["Blob"], decision["DataStoreName"]) == \
        ("blob-trigger", f"{folder}batch-1.txt", "workspaceblobstore")
    run = schedule.get_last_pipeline_run()
    assert run is not None and run.id == decision["RunId"]
    assert run.wait_for_completion(show_output=False) == "Finished"
    row = services.runs.get_run(run.id)
    assert row["parameters"]["data"] == {"datastore": "workspaceblobstore", "path": f"{folder}batch-1.txt"}
    assert "RESULT: hello | the uploaded batch" in run.find_step_run("echo")[0].get_job_log()
    assert queued < 10, f"{queued:.1f} s from upload to a started run"

    ds._container.upload_blob(f"{folder.rstrip('/')}-not/c.txt", b"x")  # beside the folder, not under it
    ds._container.upload_blob(f"{folder}batch-1.txt", b"changed", overwrite=True)  # a new version: a new run
    wait_until(lambda: len(fired(schedule)) == 2)
    time.sleep(1.0)
    assert len(fired(schedule)) == 2


def test_a_burst_of_uploads_with_debounce_starts_one_run(devhost: DevHost, workspace: Workspace,
                                                         published: PublishedPipeline, experiment_name: str,
                                                         made: list[Schedule], services: Services) -> None:
    folder = f"burst-{uuid.uuid4().hex[:8]}/"
    ds = workspace.get_default_datastore()
    schedule = Schedule.create(workspace, "burst", published.id, experiment_name, datastore=ds,
                               path_on_datastore=folder, data_path_parameter_name="data", debounce_seconds=1.0)
    made.append(schedule)
    names = [f"{folder}part-{i:02d}.txt" for i in range(20)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: ds._container.upload_blob(name, name.encode()), names))
    held = wait_until(lambda: (Schedule.get(workspace, schedule.id)._entity.get("PendingChange") or {}).get(
        "Changes") == 20 and Schedule.get(workspace, schedule.id)._entity["PendingChange"])
    assert held["Blob"] in names and not fired(schedule)
    assert len(reasons(schedule, "debounced")) == 19

    run_tick(services, local_starter(services), now=datetime.now(timezone.utc) + timedelta(seconds=2),
             schedule_ids=[schedule.id])
    (decision,) = wait_until(lambda: fired(schedule))
    assert decision["Blob"] == held["Blob"] and decision["Trigger"] == "debounce"
    assert "last of 20 change(s)" in decision["Message"]
    assert wait_terminal(services, decision["RunId"]) == "Finished"
    assert services.runs.get_run(decision["RunId"])["parameters"]["data"]["path"] == held["Blob"]
    assert [r.id for r in schedule.get_pipeline_runs()] == [decision["RunId"]]
    assert {d["Blob"] for d in reasons(schedule, "debounced")} | {decision["Blob"]} == set(names)


def test_a_disabled_schedule_starts_no_run_and_says_so(devhost: DevHost, workspace: Workspace,
                                                       published: PublishedPipeline, experiment_name: str,
                                                       made: list[Schedule]) -> None:
    folder = f"off-{uuid.uuid4().hex[:8]}/"
    ds = workspace.get_default_datastore()
    schedule = Schedule.create(workspace, "off", published.id, experiment_name, datastore=ds,
                               path_on_datastore=folder, data_path_parameter_name="data")
    made.append(schedule)
    schedule.disable()
    ds._container.upload_blob(f"{folder}ignored.txt", b"x")
    (skipped,) = wait_until(lambda: reasons(schedule, "disabled"))[:1]
    assert (skipped["Decision"], skipped["Blob"], skipped["RunId"]) == ("skipped", f"{folder}ignored.txt", None)
    time.sleep(0.5)
    assert fired(schedule) == [] and schedule.get_pipeline_runs() == []


def test_other_datastores_are_polled_once_per_version(workspace: Workspace, published: PublishedPipeline,
                                                      experiment_name: str, made: list[Schedule],
                                                      services: Services) -> None:
    """A datastore the blob trigger does not watch: the tick's polling pass finds its changes."""
    container = f"dc-{uuid.uuid4().hex[:10]}"
    store = Datastore.register_azure_blob_container(workspace, f"landing_{uuid.uuid4().hex[:6]}", container,
                                                    create_if_not_exists=True)
    top = Schedule.create(workspace, "top-level", published.id, experiment_name, datastore=store,
                          path_on_datastore="in", recursive=False, data_path_parameter_name="data")
    anywhere = Schedule.create(workspace, "anywhere", published.id, experiment_name, datastore=store.name,
                               polling_interval=1)
    made.extend([top, anywhere])
    store._container.upload_blob("in/a.csv", b"1")
    store._container.upload_blob("in/sub/b.csv", b"2")
    started: list[str] = []
    ids = [top.id, anywhere.id]
    now = datetime.now(timezone.utc) + timedelta(seconds=2)
    report = run_tick(services, started.append, now=now, schedule_ids=ids)
    by_schedule = {(d.schedule_id, d.blob) for d in report.fired}
    assert by_schedule == {(top.id, "in/a.csv"), (anywhere.id, "in/a.csv"), (anywhere.id, "in/sub/b.csv")}
    assert {d.trigger for d in report.fired} == {"poll"} and len(started) == 3

    later = run_tick(services, started.append, now=now + timedelta(minutes=1, seconds=5), schedule_ids=ids)
    assert later.decisions == [] and len(started) == 3  # re-listed versions pass quietly

    # the same version arriving as an event after the poll took it in: a duplicate, recorded
    again = on_blob_changed(services, BlobChange(container, "in/a.csv"), started.append)
    assert {(d.decision, d.reason) for d in again} == {("skipped", "duplicate")} and len(started) == 3

    # a run's own outputs under a watched path never re-trigger the schedule that started it
    own_run = next(d.run_id for d in report.fired if d.schedule_id == anywhere.id)
    store._container.upload_blob(f"{own_run}/echo/result/result.txt", b"out")
    own = on_blob_changed(services, BlobChange(container, f"{own_run}/echo/result/result.txt"), started.append)
    assert [(d.schedule_id, d.reason) for d in own] == [(anywhere.id, "own-output")] and len(started) == 3


def test_the_timer_function_fires_due_schedules_through_the_durable_client(
        devhost: DevHost, workspace: Workspace, published: PublishedPipeline, experiment_name: str,
        made: list[Schedule], services: Services) -> None:
    """``schedules_tick`` as the dev host fires it every minute (NCRONTAB ``0 * * * * *``), invoked now."""
    minute = datetime(2024, 1, 1, 10, 0, 30, tzinfo=timezone.utc)
    assert parse_schedule(TICK_SCHEDULE).next_after(minute) == datetime(2024, 1, 1, 10, 1, tzinfo=timezone.utc)
    assert devhost.app is not None
    (tick,) = [f for f in devhost.app.timer_functions if f.name == "schedules_tick"]
    assert tick.timer is not None and tick.timer.schedule == TICK_SCHEDULE

    schedule = Schedule.create(workspace, "ticked", published.id, experiment_name, run_now=False,
                               recurrence=ScheduleRecurrence("Hour", 1))
    made.append(schedule)
    store = ScheduleStore(services.account)
    row = store.get(schedule.id)
    due = datetime.now(timezone.utc) - timedelta(seconds=5)
    assert store.swap(row, replace(row, next_fire_time=iso(due))) is not None  # as if an hour had passed

    assert devhost.http is not None
    devhost.http.invoker.invoke_threadsafe(tick, TimerRequest()).result(timeout=60)  # as the timer runner does
    (decision,) = fired(schedule)
    assert decision["Trigger"] in ("recurrence", "catch-up")
    assert wait_terminal(services, decision["RunId"]) == "Finished"  # started by the dev host's Durable engine


def test_a_remote_workspace_manages_schedules_over_rest(devhost: DevHost, azurite: str, published: PublishedPipeline,
                                                        experiment_name: str, made: list[Schedule]) -> None:
    """``Workspace(endpoint=...)``: the same ``Schedule`` calls, served by the app's /api/schedules routes."""
    remote = Workspace(storage=azurite, endpoint=devhost.base_url)
    schedule = Schedule.create(remote, "remote", published.id, experiment_name, run_now=False,
                               recurrence=ScheduleRecurrence("Week", 1, week_days=["Monday"], time_of_day="07:00"),
                               pipeline_parameters={"count": 2})
    made.append(schedule)
    assert isinstance(remote.backend, RemoteBackend)
    assert Schedule.get(remote, schedule.id).recurrence == schedule.recurrence
    assert [s.id for s in Schedule.get_schedules_for_pipeline_id(remote, published.id)] == [schedule.id]
    assert len(schedule.get_next_fire_times(2)) == 2 and schedule.get_history() == []
    schedule.update(description="mondays")
    assert Schedule.get(remote, schedule.id).description == "mondays"
    schedule.disable()
    assert schedule.status == "Disabled" and schedule.get_last_pipeline_run() is None
    schedule.enable()
    with pytest.raises(ValueError, match="mutually exclusive"):
        Schedule.create(remote, "bad", published.id, experiment_name, recurrence=ScheduleRecurrence("Day", 1),
                        datastore="workspaceblobstore")


def test_one_blob_version_delivered_twice_at_once_starts_one_run(workspace: Workspace, published: PublishedPipeline,
                                                                 experiment_name: str, made: list[Schedule],
                                                                 services: Services) -> None:
    """Two hosts (or a redelivered event) handle the same upload concurrently: one run, one duplicate."""
    container = f"dc-{uuid.uuid4().hex[:10]}"
    store = Datastore.register_azure_blob_container(workspace, f"twice_{uuid.uuid4().hex[:6]}", container,
                                                    create_if_not_exists=True)
    schedule = Schedule.create(workspace, "twice", published.id, experiment_name, datastore=store,
                               data_path_parameter_name="data")
    made.append(schedule)
    store._container.upload_blob("x.csv", b"1")
    started: list[str] = []
    barrier = threading.Barrier(2)
    hosts = [Services(workspace.storage), Services(workspace.storage)]
    results: list[Any] = []

    def deliver(index: int) -> None:
        barrier.wait()
        results.extend(on_blob_changed(hosts[index], BlobChange(container, "x.csv"), started.append))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted((d.decision, d.reason) for d in results) == [("fired", ""), ("skipped", "duplicate")]
    assert len(started) == 1 and len(schedule.get_pipeline_runs()) == 1
