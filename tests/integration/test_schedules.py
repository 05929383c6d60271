"""Recurrence schedules against Azurite: the AML API and rules, exactly-once ticks, repair, catch-up, REST, CLI."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from publish_helpers import call, echo_pipeline, error_of, upload_text, wait_terminal

from pipeline_core import (
    Datastore,
    PipelineEndpoint,
    PublishedPipeline,
    Schedule,
    ScheduleRecurrence,
    TimeZone,
    Workspace,
)
from pipeline_core.application.errors import ConflictError
from pipeline_core.engine.launch import start_or_fail
from pipeline_core.engine.services import Services, services_for
from pipeline_core.errors import NotFoundError
from pipeline_core.pipeline.core import schedule as schedule_module
from pipeline_core.rest.api import ServiceRequest, handle, route_for
from pipeline_core.schedules.claims import FireContext, claim, finish
from pipeline_core.schedules.firing import fire_run_id, local_starter, time_fire_key
from pipeline_core.schedules.tick import run_tick
from pipeline_core.storage.schedule_store import ScheduleStore, parse_time

pytestmark = pytest.mark.integration
UTC = timezone.utc


@pytest.fixture
def services(workspace: Workspace) -> Services:
    return services_for(workspace.storage)


@pytest.fixture
def published(workspace: Workspace, source_dir: Path, tmp_path: Path) -> PublishedPipeline:
    return echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "scheduled")).publish(
        name=f"sched-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def made(workspace: Workspace) -> Iterator[list[str]]:
    """Ids of schedules a test created: disabled afterwards, so no host ever fires them later."""
    ids: list[str] = []
    yield ids
    for schedule_id in ids:
        Schedule.get(workspace, schedule_id).disable()


class Starts:
    """A Starter that records which host started which run (and starts nothing)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def starter(self, host: str) -> Callable[[str], None]:
        def start(run_id: str) -> None:
            with self.lock:
                self.calls.append((host, run_id))
        return start


def _due(services: Services, schedule_id: str) -> datetime:
    due = parse_time(ScheduleStore(services.account).get(schedule_id).next_fire_time)
    assert due is not None
    return due


def _quarter_hourly(ws: Workspace, published: PublishedPipeline, experiment: str, made: list[str],
                    **kwargs: Any) -> Schedule:
    rec = ScheduleRecurrence("Minute", 15, start_time="2024-01-01T00:00:00")
    schedule = Schedule.create(ws, f"q-{uuid.uuid4().hex[:6]}", published.id, experiment, recurrence=rec, **kwargs)
    made.append(schedule.id)
    return schedule


# -- the AML API -------------------------------------------------------------------------------------
def test_seed_snippet_runs_now_and_every_four_hours(workspace: Workspace, published: PublishedPipeline,
                                                    experiment_name: str, made: list[str]) -> None:
    hourly = ScheduleRecurrence(frequency="Hourly", interval=4)
    schedule = Schedule.create(workspace, name="every-four-hours", description="retrain",
                               pipeline_id=published.id, experiment_name=experiment_name, recurrence=hourly)
    made.append(schedule.id)
    assert (schedule.name, schedule.description, schedule.status, schedule.pipeline_id) == \
        ("every-four-hours", "retrain", "Active", published.id)
    assert schedule.recurrence == ScheduleRecurrence("Hour", 4) and schedule.datastore_name is None

    run = schedule.get_last_pipeline_run()  # AML: no start_time -> the first run starts at creation
    assert run is not None and run.wait_for_completion(show_output=False) == "Finished"
    assert services_for(workspace.storage).runs.get_run(run.id)["run_source"] == "Schedule"
    history = schedule.get_history()
    assert [(d["Decision"], d["Trigger"], d["RunId"]) for d in history] == [("fired", "run-now", run.id)]
    times = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in schedule.get_next_fire_times(3)]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [timedelta(hours=4)] * 2

    again = Schedule.get(workspace, schedule.id)
    assert (again.id, again.recurrence, again.experiment_name) == (schedule.id, hourly, experiment_name)
    assert schedule.id in {s.id for s in Schedule.list(workspace, pipeline_id=published.id)}
    assert [s.id for s in Schedule.get_schedules_for_pipeline_id(workspace, published.id)] == [schedule.id]
    assert [r.id for r in schedule.get_pipeline_runs()] == [run.id]

    with pytest.raises(ConflictError, match=schedule.id):  # a pipeline an active schedule fires stays enabled
        published.disable()
    schedule.disable()
    assert schedule.status == "Disabled" and Schedule.get(workspace, schedule.id).next_fire_time is None
    assert schedule.id not in {s.id for s in Schedule.list(workspace)}
    published.disable()
    published.enable()


RULES: list[tuple[dict[str, Any], str]] = [
    ({"recurrence": ScheduleRecurrence("Day", 1), "datastore": "workspaceblobstore"}, "mutually exclusive"),
    ({}, "either recurrence"),
    ({"recurrence": ScheduleRecurrence("Day", 1), "polling_interval": 10}, "polling_interval is only supported"),
    ({"recurrence": ScheduleRecurrence("Day", 1), "path_on_datastore": "x/"}, "path_on_datastore is only supported"),
    ({"recurrence": ScheduleRecurrence("Day", 1), "data_path_parameter_name": "data"},
     "data_path_parameter_name is only supported"),
    ({"datastore": "workspaceblobstore", "data_path_parameter_name": "greeting"}, "must name a DataPath"),
    ({"datastore": "workspaceblobstore", "polling_interval": 0}, "polling_interval is minutes"),
    ({"datastore": "workspaceblobstore", "debounce_seconds": -1}, "debounce_seconds must be"),
    ({"datastore": "no-such-store"}, "is not registered"),
    ({"recurrence": ScheduleRecurrence("Day", 1, start_time="2030-01-01T00:00:00"), "run_now": True},
     "run_now=True applies only"),
    ({"recurrence": ScheduleRecurrence("Day", 1), "pipeline_parameters": {"nope": 1}},
     "unknown pipeline parameter 'nope'"),
    ({"recurrence": ScheduleRecurrence("Day", 1), "pipeline_parameters": {"count": "many"}}, "expects int"),
    ({"recurrence": "daily"}, "must be a ScheduleRecurrence"),
    ({"recurrence": ScheduleRecurrence("Day", 1), "wait_timeout": 0}, "wait_timeout"),
]


@pytest.mark.parametrize(("kwargs", "rule"), RULES)
def test_each_rule_is_a_value_error_naming_it(workspace: Workspace, published: PublishedPipeline,
                                              kwargs: dict[str, Any], rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        Schedule.create(workspace, "bad", published.id, "exp", **kwargs)


def test_targets_must_exist_and_be_active(workspace: Workspace, published: PublishedPipeline) -> None:
    with pytest.raises(ValueError, match="experiment_name 'bad name!' is invalid"):
        Schedule.create(workspace, "x", published.id, "bad name!", recurrence=ScheduleRecurrence("Day", 1))
    with pytest.raises(NotFoundError, match="was not found"):
        Schedule.create(workspace, "x", str(uuid.uuid4()), "exp", recurrence=ScheduleRecurrence("Day", 1))
    published.disable()
    with pytest.raises(ConflictError, match="Disabled"):
        Schedule.create(workspace, "x", published.id, "exp", recurrence=ScheduleRecurrence("Day", 1))
    published.enable()

    class NotBlob:
        datastore_type = "AzureFile"
        name = "files"

    with pytest.raises(ValueError, match="Azure Blob datastore"):
        Schedule.create(workspace, "x", published.id, "exp", datastore=NotBlob())


# -- exactly once ------------------------------------------------------------------------------------
def test_two_concurrent_ticks_start_the_run_once(workspace: Workspace, published: PublishedPipeline,
                                                 experiment_name: str, made: list[str]) -> None:
    schedule = _quarter_hourly(workspace, published, experiment_name, made)
    hosts = [Services(workspace.storage), Services(workspace.storage)]  # two hosts: nothing cached in common
    due = _due(hosts[0], schedule.id)
    starts, barrier = Starts(), threading.Barrier(2)
    reports: list[Any] = []

    def tick(index: int) -> None:
        barrier.wait()
        reports.append(run_tick(hosts[index], starts.starter(f"host{index}"), now=due + timedelta(seconds=1),
                                schedule_ids=[schedule.id]))

    threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    expected = fire_run_id(schedule.id, time_fire_key(due))
    assert [run_id for _, run_id in starts.calls] == [expected]
    assert sum(len(r.fired) for r in reports) == 1 and not any(r.errors for r in reports)

    for moment in (due + timedelta(seconds=1), due + timedelta(minutes=14)):  # a repeated tick: not due again
        assert run_tick(hosts[1], starts.starter("again"), now=moment, schedule_ids=[schedule.id]).decisions == []
    assert len(starts.calls) == 1
    history = schedule.get_history()
    assert [(d["Decision"], d["Trigger"], d["RunId"]) for d in history] == [("fired", "recurrence", expected)]
    row = hosts[0].runs.get_run(expected)
    assert (row["schedule_id"], row["run_source"], row["pipeline_id"]) == (schedule.id, "Schedule", published.id)

    start_or_fail(hosts[0], expected, local_starter(hosts[0]))  # the run is real: it runs to the end
    assert wait_terminal(hosts[0], expected) == "Finished"


def test_a_stale_read_loses_the_claim(workspace: Workspace, published: PublishedPipeline, experiment_name: str,
                                      made: list[str], services: Services) -> None:
    schedule = _quarter_hourly(workspace, published, experiment_name, made)
    store = ScheduleStore(services.account)
    first, second = store.get(schedule.id), store.get(schedule.id)  # both hosts read the same row (same ETag)
    due = _due(services, schedule.id)
    run_id = fire_run_id(schedule.id, time_fire_key(due))
    starts = Starts()
    ctx = FireContext(services, starts.starter("x"), due)
    won = claim(ctx, first, run_id, {"trigger": "recurrence"})
    assert won is not None and claim(ctx, second, run_id, {"trigger": "recurrence"}) is None
    assert store.get(schedule.id).claim["run_id"] == run_id  # type: ignore[index]
    finish(ctx, won)  # the winner goes on; nothing is left claimed
    assert starts.calls == [("x", run_id)] and store.get(schedule.id).fire_state == "started"


def test_a_claim_left_by_a_dead_host_is_finished_once(workspace: Workspace, published: PublishedPipeline,
                                                      experiment_name: str, made: list[str],
                                                      services: Services) -> None:
    schedule = _quarter_hourly(workspace, published, experiment_name, made)
    store = ScheduleStore(services.account)
    due = _due(services, schedule.id)
    run_id = fire_run_id(schedule.id, time_fire_key(due))
    ctx = FireContext(services, Starts().starter("dead"), due + timedelta(seconds=1))
    claimed = claim(ctx, store.get(schedule.id), run_id, {"trigger": "recurrence", "fire_time": due.isoformat()},
                    next_fire_time=(due + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
                    last_fire_time=due.isoformat().replace("+00:00", "Z"))
    assert claimed is not None  # ... and the host died here, before creating the run
    starts = Starts()
    fresh = run_tick(services, starts.starter("live"), now=due + timedelta(seconds=30), schedule_ids=[schedule.id])
    assert fresh.decisions == [] and starts.calls == []  # a fresh claim is left to its owner
    late = run_tick(services, starts.starter("live"), now=due + timedelta(minutes=3), schedule_ids=[schedule.id])
    assert [d.run_id for d in late.fired] == [run_id] and starts.calls == [("live", run_id)]
    assert store.get(schedule.id).fire_state == "started"
    assert run_tick(services, starts.starter("live"), now=due + timedelta(minutes=4),
                    schedule_ids=[schedule.id]).decisions == []
    assert services.runs.get_run(run_id)["schedule_id"] == schedule.id


def test_downtime_gives_one_catch_up_run(workspace: Workspace, published: PublishedPipeline, experiment_name: str,
                                         made: list[str], services: Services) -> None:
    schedule = _quarter_hourly(workspace, published, experiment_name, made)
    due = _due(services, schedule.id)
    starts = Starts()
    report = run_tick(services, starts.starter("h"), now=due + timedelta(hours=2, minutes=1),
                      schedule_ids=[schedule.id])
    assert len(report.fired) == 1 and len(starts.calls) == 1  # 9 fire times missed, one run
    fired = report.fired[0]
    assert fired.trigger == "catch-up" and fired.fire_time == (due + timedelta(hours=2)).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    assert "one run stands for all of them" in fired.message
    assert _due(services, schedule.id) == due + timedelta(hours=2, minutes=15)


def test_disabled_schedule_does_not_fire_and_enable_skips_the_gap(workspace: Workspace, published: PublishedPipeline,
                                                                  experiment_name: str, made: list[str],
                                                                  services: Services) -> None:
    schedule = _quarter_hourly(workspace, published, experiment_name, made)
    due = _due(services, schedule.id)
    schedule.disable()
    starts = Starts()
    assert run_tick(services, starts.starter("h"), now=due + timedelta(hours=1), schedule_ids=[schedule.id]
                    ).decisions == [] and starts.calls == []
    schedule.enable()
    assert _due(services, schedule.id) > datetime.now(UTC)  # from now on, no catch-up for the disabled time


# -- endpoints, update -----------------------------------------------------------------------------------
def test_endpoint_schedule_runs_the_default_version(workspace: Workspace, published: PublishedPipeline,
                                                    experiment_name: str, made: list[str],
                                                    services: Services) -> None:
    endpoint = PipelineEndpoint.publish(workspace, f"ep-{uuid.uuid4().hex[:8]}", "scheduled endpoint", published)
    schedule = Schedule.create_for_pipeline_endpoint(
        workspace, "nightly", endpoint.id, experiment_name, run_now=False, pipeline_parameters={"greeting": "hi"},
        recurrence=ScheduleRecurrence("Day", 1, time_zone=TimeZone.WEuropeStandardTime, time_of_day="02:00"))
    made.append(schedule.id)
    assert schedule.pipeline_endpoint_id == endpoint.id and schedule.pipeline_id is None
    assert [s.id for s in Schedule.get_schedules_for_pipeline_endpoint_id(workspace, endpoint.id)] == [schedule.id]
    local = [datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(TimeZone.WEuropeStandardTime.zoneinfo())
             for t in schedule.get_next_fire_times(2)]
    assert [(t.hour, t.minute) for t in local] == [(2, 0), (2, 0)]
    with pytest.raises(ConflictError, match=schedule.id):
        endpoint.disable()
    due = _due(services, schedule.id)
    starts = Starts()
    report = run_tick(services, starts.starter("h"), now=due, schedule_ids=[schedule.id])
    row = services.runs.get_run(report.fired[0].run_id)
    assert (row["pipeline_endpoint_id"], row["pipeline_id"]) == (endpoint.id, published.id)
    assert row["parameters"]["greeting"] == "hi"


def test_update_checks_the_rules_again(workspace: Workspace, published: PublishedPipeline, experiment_name: str,
                                       made: list[str], services: Services) -> None:
    schedule = _quarter_hourly(workspace, published, experiment_name, made)
    schedule.update(description="hourly now", recurrence=ScheduleRecurrence("Hour", 1),
                    pipeline_parameters={"count": 3})
    fresh = Schedule.get(workspace, schedule.id)
    assert (fresh.description, fresh.recurrence) == ("hourly now", ScheduleRecurrence("Hour", 1))
    assert fresh._entity["PipelineParameters"] == {"count": 3}
    assert _due(services, schedule.id) > datetime.now(UTC) + timedelta(minutes=55)  # re-anchored at the update
    with pytest.raises(ValueError, match="mutually exclusive"):
        schedule.update(datastore=Datastore.get(workspace, "workspaceblobstore"))
    with pytest.raises(ValueError, match="status must be"):
        schedule.update(status="Paused")
    schedule.update(status="Disabled")
    assert Schedule.get(workspace, schedule.id).status == "Disabled"


def test_load_yaml(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "schedule.yml"
    path.write_text("""
Schedule:
    description: "Test create with datastore"
    recurrence: ~
    pipeline_parameters: {}
    wait_for_provisioning: True
    wait_timeout: 3600
    datastore_name: "workspaceblobstore"
    polling_interval: 5
    data_path_parameter_name: "input_data"
    continue_on_step_failure: None
    path_on_datastore: "file/path"
""")
    loaded = Schedule.load_yaml(workspace, str(path))
    assert loaded["datastore"].name == "workspaceblobstore" and loaded["continue_on_step_failure"] is None
    assert loaded["path_on_datastore"] == "file/path" and "recurrence" not in loaded
    assert schedule_module.Schedule is Schedule


# -- REST -----------------------------------------------------------------------------------------------
def test_rest_routes(services: Services, published: PublishedPipeline, experiment_name: str,
                     made: list[str]) -> None:
    body = {"Name": "rest", "PipelineId": published.id, "ExperimentName": experiment_name, "RunNow": False,
            "Recurrence": {"Frequency": "Daily", "Interval": 1, "TimeZone": "GMT Standard Time", "Hours": [1],
                           "Minutes": [30]}, "PipelineParameters": {"count": 2}, "WaitForProvisioning": True}
    created = call(services, "createSchedule", body=body)
    assert created.status == 201, created.body
    entity = created.body
    made.append(entity["Id"])
    assert created.headers["Location"] == entity["Url"] and created.launch_run_id is None
    assert (entity["Kind"], entity["Status"], entity["Recurrence"]["Frequency"]) == ("Recurrence", "Active", "Day")
    sid = {"schedule_id": entity["Id"]}
    assert call(services, "getSchedule", sid).body == entity
    listed = call(services, "listSchedules", query={"pipeline_id": published.id}).body["Value"]
    assert [e["Id"] for e in listed] == [entity["Id"]]
    assert [e["Id"] for e in call(services, "listPipelineSchedules", {"pipeline_id": published.id}).body["Value"]] \
        == [entity["Id"]]

    upcoming = call(services, "getScheduleNextFireTimes", sid, query={"count": "3"}).body
    assert upcoming["TimeZone"] == "GMT Standard Time" and len(upcoming["Value"]) == 3
    assert {item["LocalTime"][11:16] for item in upcoming["Value"]} == {"01:30"}

    patched = call(services, "updateSchedule", sid, {"Description": "d2", "Recurrence": {"Frequency": "Hour",
                                                                                        "Interval": 2}})
    assert patched.status == 200 and patched.body["Description"] == "d2"
    assert patched.body["NextFireTime"] != entity["NextFireTime"]
    assert call(services, "disableSchedule", sid).body["Status"] == "Disabled"
    assert call(services, "enableSchedule", sid).body["Status"] == "Active"
    assert call(services, "listScheduleDecisions", sid).body == {"Value": []}
    assert call(services, "listScheduleRuns", sid).body == {"Value": []}
    assert error_of(call(services, "getLastScheduleRun", sid))["code"] == "NoRunYet"

    bad = error_of(call(services, "createSchedule", body={**body, "DataStoreName": "workspaceblobstore"}))
    assert bad["code"] == "InvalidSchedule" and "mutually exclusive" in bad["message"]
    assert error_of(call(services, "createSchedule", body={**body, "Recurrence": {"Frequency": "Fortnightly",
                                                                                  "Interval": 1}}))["code"] \
        == "InvalidSchedule"
    assert error_of(call(services, "createSchedule", body={**body, "PollingInterval": "5"}))["details"][0][
        "target"] == "PollingInterval"
    assert error_of(call(services, "createSchedule", body={**body, "Bogus": 1}))["code"] == "UnknownField"
    assert error_of(call(services, "updateSchedule", sid, {"Status": "Paused"}))["code"] == "InvalidField"
    assert error_of(call(services, "getSchedule", {"schedule_id": "nope"}))["code"] == "NotFound"
    assert error_of(call(services, "getScheduleNextFireTimes", sid, query={"count": "0"}))["code"] == "InvalidQuery"
    call(services, "disableSchedule", sid)


def test_rest_create_hands_the_run_now_fire_to_the_durable_client(services: Services, published: PublishedPipeline,
                                                                  experiment_name: str, made: list[str]) -> None:
    """Over HTTP (launch=False) the create answer names the run for functions/ to start, as a submit does."""
    body = {"Name": "now", "PipelineId": published.id, "ExperimentName": experiment_name,
            "Recurrence": {"Frequency": "Week", "Interval": 1}}
    import json

    request = ServiceRequest(body=json.dumps(body).encode(), launch=False)
    created = handle(services, route_for("createSchedule"), request)
    assert created.status == 201 and created.launch_run_id is not None
    made.append(created.body["Id"])
    row = services.runs.get_run(created.launch_run_id)
    assert row["status"] == "NotStarted" and row["schedule_id"] == created.body["Id"]
    start_or_fail(services, created.launch_run_id, local_starter(services))  # what functions/ does with Durable
    assert wait_terminal(services, created.launch_run_id) == "Finished"


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli(workspace: Workspace, published: PublishedPipeline, experiment_name: str, made: list[str],
             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from amlite_cli import main

    monkeypatch.setenv("AMLITE_STORAGE", workspace.storage)
    monkeypatch.delenv("AMLITE_ENDPOINT", raising=False)
    monkeypatch.chdir(Path(__file__).parent)
    assert main(["schedules", "create", "cli-made", "--pipeline-id", published.id, "--experiment", experiment_name,
                 "--frequency", "Daily", "--time-of-day", "06:15", "--time-zone", "Tokyo Standard Time",
                 "--no-run-now", "--param", "count=2"]) == 0
    created = capsys.readouterr().out
    schedule_id = created.split("created schedule ")[1].split()[0]
    made.append(schedule_id)
    assert main(["schedules", "list", "--pipeline-id", published.id]) == 0
    assert schedule_id[:8] in capsys.readouterr().out
    assert main(["schedules", "next", schedule_id, "--count", "2"]) == 0
    assert capsys.readouterr().out.count("06:15:00+09:00") == 2
    assert main(["schedules", "show", schedule_id]) == 0 and "Tokyo" in capsys.readouterr().out
    assert main(["schedules", "disable", schedule_id]) == 0 and "Disabled" in capsys.readouterr().out
    assert main(["schedules", "history", schedule_id]) == 0
    assert main(["schedules", "create", "bad", "--pipeline-id", published.id, "--experiment", experiment_name,
                 "--frequency", "Daily", "--datastore", "workspaceblobstore"]) == 2
    assert "mutually exclusive" in capsys.readouterr().err
