"""A remote workspace's backend is chosen once and goes to the app only: runs, experiments and schedules too.

``tests/http/test_remote_management.py`` shows published pipelines and endpoints
served over REST to a workspace whose storage refuses every request; this shows
the same for following a run, listing an experiment's runs and managing a
schedule, and that such a workspace never even opens its storage account.
"""

from __future__ import annotations

import uuid

import pytest

from pipeline_core import Experiment, PublishedPipeline, Schedule, ScheduleRecurrence, Workspace
from pipeline_core.backend.remote import RemoteBackend
from pipeline_core.storage import account

pytestmark = pytest.mark.integration


def test_a_remote_workspace_follows_runs_and_manages_schedules_without_its_storage(
        http_base: str, noop_published: PublishedPipeline, experiment_name: str) -> None:
    # A well-formed account nobody can reach (.invalid never resolves), unique to this test.
    storage = (f"DefaultEndpointsProtocol=https;AccountName=untouched{uuid.uuid4().hex[:8]};"
               f"AccountKey={'A' * 86}==;EndpointSuffix=core.invalid")
    remote = Workspace(endpoint=http_base, storage=storage)
    assert isinstance(remote.backend, RemoteBackend)

    published = PublishedPipeline.get(remote, noop_published.id)
    run = published.submit(remote, experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    assert [(s.name, s.get_status()) for s in run.get_steps()] == [("noop", "Finished")]
    assert run.get_tags() == {} and run.get_details()["pipelineId"] == noop_published.id
    assert [r.id for r in Experiment(remote, experiment_name).get_runs()] == [run.id]

    schedule = Schedule.create(remote, f"weekly-{uuid.uuid4().hex[:6]}", noop_published.id, experiment_name,
                               recurrence=ScheduleRecurrence("Week", 1, week_days=["Monday"], time_of_day="07:00"),
                               run_now=False)
    try:
        assert Schedule.get(remote, schedule.id).status == "Active"
        assert len(schedule.get_next_fire_times(2)) == 2 and schedule.get_pipeline_runs() == []
    finally:
        schedule.disable()
    assert schedule.status == "Disabled"

    assert storage not in account._accounts  # nothing above opened the workspace's storage account
