"""The run-launcher port: every way of starting a run goes through one ``start_or_fail``.

A launcher registered in the test (``register_launcher``, no engine edit) replaces the local engine for a
workspace; when its start raises, a local submit, a schedule's fire and a deferred start (what the HTTP
layer does with ``launch_run_id``) all end the run Failed with the reason, and the caller hears why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from publish_helpers import echo_pipeline, upload_text

from pipeline_core import Experiment, Schedule, ScheduleRecurrence, Workspace
from pipeline_core.engine.launch import (
    LOCAL,
    LauncherNotFound,
    RunNotStarted,
    launcher_for,
    register_launcher,
    start_or_fail,
    unregister_launcher,
)
from pipeline_core.engine.services import services_for
from pipeline_core.schedules.tick import run_tick
from pipeline_core.storage.schedule_store import ScheduleStore, parse_time

pytestmark = pytest.mark.integration


class Refusing:
    """A launcher whose backend refuses every start (say, the task hub is gone)."""

    def __init__(self, storage: str) -> None:
        self.started: list[str] = []

    def start(self, run_id: str) -> None:
        raise ConnectionError("the task hub refused the start")

    def cancel(self, run_id: str) -> bool:
        return False

    def exists(self, run_id: str) -> bool:
        return False


@pytest.fixture
def refusing() -> Iterator[None]:
    register_launcher(LOCAL, Refusing)
    try:
        yield
    finally:
        unregister_launcher(LOCAL)


def _run_row(ws: Workspace, run_id: str) -> dict:
    return services_for(ws.storage).runs.get_run(run_id)


def test_a_local_submit_whose_start_fails_ends_the_run_failed_with_the_reason(
        workspace: Workspace, source_dir: Path, tmp_path: Path, refusing: None) -> None:
    pipeline = echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "x"))
    with pytest.raises(RunNotStarted) as raised:
        Experiment(workspace, f"launch-{uuid.uuid4().hex[:6]}").submit(pipeline)
    assert raised.value.status == 503 and "the task hub refused the start" in str(raised.value)
    row = _run_row(workspace, raised.value.run_id)
    assert row["status"] == "Failed"
    assert "could not be started: ConnectionError: the task hub refused the start" in row["error"]["message"]


def test_a_schedule_fire_whose_start_fails_records_why(workspace: Workspace, source_dir: Path,
                                                        tmp_path: Path) -> None:
    published = echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "y")).publish(
        name=f"launch-{uuid.uuid4().hex[:6]}")
    schedule = Schedule.create(workspace, f"l-{uuid.uuid4().hex[:6]}", published.id, "launch-sched",
                               recurrence=ScheduleRecurrence("Minute", 15, start_time="2024-01-01T00:00:00"))
    try:
        services = services_for(workspace.storage)
        due = parse_time(ScheduleStore(services.account).get(schedule.id).next_fire_time)
        assert due is not None
        report = run_tick(services, Refusing(workspace.storage), now=due + timedelta(seconds=1),
                          schedule_ids=[schedule.id])
        [decision] = report.decisions
        assert decision.decision == "skipped"
        assert "could not be started: ConnectionError: the task hub refused the start" in decision.message
        row = _run_row(workspace, decision.run_id)
        assert row["status"] == "Failed" and "the task hub refused the start" in row["error"]["message"]
    finally:
        schedule.disable()


def test_a_deferred_start_goes_through_the_same_path(workspace: Workspace, source_dir: Path,
                                                     tmp_path: Path) -> None:
    """``ServiceRequest.launch=False``: the run is created Queued (its starter follows at once); the starter
    (Durable, in functions/) then calls ``start_or_fail`` like every other start, and a refused start ends it."""
    from pipeline_core.application.submission import SubmitOptions, submit_spec

    pipeline = echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "z"))
    services = services_for(workspace.storage)
    created = submit_spec(services, pipeline.spec(), SubmitOptions(experiment_name="launch-deferred"), launch=False)
    assert _run_row(workspace, created.run_id)["status"] == "Queued"
    with pytest.raises(RunNotStarted):
        start_or_fail(services, created.run_id, Refusing(workspace.storage), created=created.row)
    assert _run_row(workspace, created.run_id)["status"] == "Failed"


def test_an_unknown_launcher_names_the_fix(workspace: Workspace) -> None:
    with pytest.raises(LauncherNotFound) as raised:
        launcher_for(services_for(workspace.storage), "nowhere")
    assert "amlite.launchers" in str(raised.value) and "register_launcher" in str(raised.value)
