"""The Functions app's sweeper (``runs_sweep``, functions/sweeper.py) on the repo's app in the dev host.

Runs are left as a killed Azure worker leaves them: a row written by a worker on
another machine (its pid means nothing here) that never scheduled its Durable
orchestration, or a Running run whose Durable instance was terminated. The
timer function is invoked as the dev host's timer runner invokes it; its Durable
client is the dev host's real one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.functions.timer import TimerRequest

from amlite_local.host import DevHost
from pipeline_core import Pipeline, PipelineParameter, PythonScriptStep, Workspace
from pipeline_core.application.submission import SubmitOptions, submit_published
from pipeline_core.engine.services import Services, services_for
from pipeline_core.engine.stale_runs import DEFAULT_SCHEDULE, SweepSettings
from pipeline_core.storage.run_store import RUN_ROW, TERMINAL

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The owner a worker on another machine writes: the sweep cannot judge it by pid, only by age.
GONE_WORKER = "functions-worker-gone/4242/1"
SLEEP = "import sys, time; time.sleep(float(sys.argv[1])); print('slept')\n"


@pytest.fixture(scope="module")
def devhost(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app (timers off: each test fires the sweep itself)."""
    values = {"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none"}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, enable_blob_triggers=False,
                   load_settings=False).start()
    try:
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


def _unstarted_run(workspace: Workspace, services: Services, tmp_path: Path, experiment: str,
                   seconds: float = 0.0) -> str:
    """A run row as a worker leaves it when it dies right after writing it: NotStarted, owner elsewhere."""
    folder = tmp_path / f"src-{time.monotonic_ns()}"
    folder.mkdir()
    (folder / "sleep.py").write_text(SLEEP)
    step = PythonScriptStep("sleep.py", name="nap", source_directory=str(folder),
                            arguments=[PipelineParameter("seconds", seconds)], allow_reuse=False)
    published = Pipeline(workspace, [step]).publish(name=f"sweep-{time.monotonic_ns()}")
    record = workspace.backend.get_pipeline(published.id)
    run_id = submit_published(services, record, SubmitOptions(experiment), launch=False).run_id
    services.runs.update(run_id, RUN_ROW, {"host_id": GONE_WORKER})
    return run_id


def _sweep(devhost: DevHost, monkeypatch: pytest.MonkeyPatch, grace: float) -> None:
    monkeypatch.setenv("AMLITE_SWEEP_GRACE_SECONDS", str(grace))
    assert devhost.app is not None and devhost.http is not None
    (sweep,) = [f for f in devhost.app.timer_functions if f.name == "runs_sweep"]
    assert sweep.timer is not None and sweep.timer.schedule == DEFAULT_SCHEDULE
    devhost.http.invoker.invoke_threadsafe(sweep, TimerRequest()).result(timeout=60)


def _terminate(devhost: DevHost, run_id: str, reason: str) -> None:
    """Terminate the run's instance as the Durable API does, and wait until it has ended."""
    assert devhost.engine is not None
    devhost.engine.terminate(run_id, reason)
    deadline = time.monotonic() + 30
    while not (status := devhost.engine.get_status(run_id)) or not status.runtime_status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _wait(services: Services, run_id: str, want: set[str], timeout: float = 90.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = services.runs.get_run(run_id)
        if row.get("status") in want:
            return row
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} is {services.runs.get_run(run_id).get('status')}, not one of {want}")


def test_a_run_never_started_is_started_and_a_fresh_one_is_left(
        devhost: DevHost, workspace: Workspace, services: Services, tmp_path: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    old = _unstarted_run(workspace, services, tmp_path, experiment_name)
    time.sleep(2.5)
    fresh = _unstarted_run(workspace, services, tmp_path, experiment_name)

    _sweep(devhost, monkeypatch, grace=2.0)

    assert _wait(services, old, TERMINAL)["status"] == "Finished"
    assert services.runs.get_run(fresh)["status"] == "Queued"  # inside the grace: its start may be on its way
    assert devhost.engine is not None and devhost.engine.get_status(fresh) is None

    _sweep(devhost, monkeypatch, grace=2.0)  # a second sweep does not start the finished run again
    assert devhost.engine.get_status(old) is not None
    assert services.runs.get_run(old)["status"] == "Finished"


def test_a_running_run_whose_instance_was_terminated_ends_failed_with_the_reason(
        devhost: DevHost, workspace: Workspace, services: Services, tmp_path: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _unstarted_run(workspace, services, tmp_path, experiment_name, seconds=3.0)
    _sweep(devhost, monkeypatch, grace=0.0)
    _wait(services, run_id, {"Running"})
    services.runs.update(run_id, RUN_ROW, {"host_id": GONE_WORKER})  # its worker was on another machine
    assert devhost.engine is not None
    _terminate(devhost, run_id, "terminated by an operator")
    assert services.runs.get_run(run_id)["status"] == "Running"  # nothing else would ever end it

    _sweep(devhost, monkeypatch, grace=0.0)

    run = services.runs.get_run(run_id)
    assert run["status"] == "Failed"
    assert "Terminated" in run["error"]["message"] and "before the run did" in run["error"]["message"]
    assert "terminated by an operator" in run["error"]["message"]
    assert services.runs.get_state(run_id).steps["nap"]["status"] == "Failed"
    time.sleep(3.0)  # the terminated instance's step process ends on its own before the host stops


def test_a_running_run_whose_instance_was_purged_ends_failed_and_one_of_another_hub_is_left(
        devhost: DevHost, workspace: Workspace, services: Services, tmp_path: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A purge under a live run (an operator's purge, a deleted hub) left it Running for good on Azure."""
    run_id = _unstarted_run(workspace, services, tmp_path, experiment_name, seconds=3.0)
    _sweep(devhost, monkeypatch, grace=0.0)  # started through the app's Durable launcher
    running = _wait(services, run_id, {"Running"})
    assert devhost.engine is not None and devhost.engine.store is not None
    assert running["task_hub"] == devhost.engine.store.task_hub  # where its orchestration was started
    other = _unstarted_run(workspace, services, tmp_path, experiment_name)
    services.runs.update(other, RUN_ROW, {"status": "Running", "task_hub": "someoneelseshub"})  # another hub's

    services.runs.update(run_id, RUN_ROW, {"host_id": GONE_WORKER})
    assert devhost.engine.purge(run_id)
    assert services.runs.get_run(run_id)["status"] == "Running"

    _sweep(devhost, monkeypatch, grace=0.0)

    run = services.runs.get_run(run_id)
    assert run["status"] == "Failed"
    assert "no longer exists in task hub" in run["error"]["message"], run["error"]
    assert services.runs.get_run(other)["status"] == "Running"  # not this app's instance to judge
    services.runs.update(other, RUN_ROW, {"status": "Failed"})
    time.sleep(3.0)  # the purged instance's step process ends on its own before the host stops

def test_bad_grace_setting_names_it() -> None:
    with pytest.raises(ValueError, match="AMLITE_SWEEP_GRACE_SECONDS"):
        SweepSettings.from_mapping({"AMLITE_SWEEP_GRACE_SECONDS": "ten minutes"})
    assert SweepSettings.from_mapping({}).schedule == DEFAULT_SCHEDULE
    # indexing the app reads only the schedule: a bad grace does not take every function down with it
    assert SweepSettings.schedule_from({"AMLITE_SWEEP_GRACE_SECONDS": "ten minutes"}) == DEFAULT_SCHEDULE


def test_two_sweeps_at_once_start_a_left_run_once(
        devhost: DevHost, workspace: Workspace, services: Services, tmp_path: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two app instances firing the timer together: the ETag-guarded claim lets one start the run (a second
    start of the same instance id would be refused and end the run Failed)."""
    run_id = _unstarted_run(workspace, services, tmp_path, experiment_name)
    time.sleep(2.5)
    monkeypatch.setenv("AMLITE_SWEEP_GRACE_SECONDS", "2.0")
    assert devhost.app is not None and devhost.http is not None
    (sweep,) = [f for f in devhost.app.timer_functions if f.name == "runs_sweep"]
    both = [devhost.http.invoker.invoke_threadsafe(sweep, TimerRequest()) for _ in range(2)]
    for done in both:
        done.result(timeout=60)
    run = _wait(services, run_id, TERMINAL)
    assert run["status"] == "Finished", run.get("error")
    assert run.get("swept_time")


def test_a_canceled_run_whose_instance_was_terminated_ends_canceled(
        devhost: DevHost, workspace: Workspace, services: Services, tmp_path: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _unstarted_run(workspace, services, tmp_path, experiment_name, seconds=3.0)
    _sweep(devhost, monkeypatch, grace=0.0)
    _wait(services, run_id, {"Running"})
    assert devhost.engine is not None
    _terminate(devhost, run_id, "gone")  # before its orchestrator could hear the cancel
    services.runs.transition(run_id, RUN_ROW, "CancelRequested", {"host_id": GONE_WORKER})

    _sweep(devhost, monkeypatch, grace=0.0)

    run = services.runs.get_run(run_id)
    assert run["status"] == "Canceled" and "asked to cancel" in run["error"]["message"]
    time.sleep(3.0)  # the terminated instance's step process ends on its own before the host stops


def test_on_azure_a_live_looking_local_owner_does_not_shield_a_run() -> None:
    assert SweepSettings.from_mapping({}).skip_live_local_owners is True
    assert SweepSettings.from_mapping({"WEBSITE_INSTANCE_ID": "abc"}).skip_live_local_owners is False
