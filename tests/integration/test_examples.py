"""The examples, run as users run them: batch scoring through `amlite run`, and its scheduled variant.

Real parts only: the test Azurite, the repo's Functions app in the dev host on a real socket, the
example files as they ship. The one shortcut: the scheduled variant's held burst is fired by one tick
run here, as of the end of its debounce window, instead of waiting up to a minute for the app's timer.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from amlite_local.host import DevHost
from pipeline_core import Experiment, Schedule, ScheduleRecurrence, TimeZone, Workspace
from pipeline_core.engine.services import services_for
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.schedules.firing import local_starter
from pipeline_core.schedules.tick import run_tick
from pipeline_core.storage.schedule_store import ScheduleStore, parse_time

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]
BATCH_SCORING = REPO_ROOT / "examples" / "batch_scoring"


@pytest.fixture
def example_env(azurite: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A local workspace on the test Azurite for `amlite run` and the examples; sys.path restored afterwards."""
    monkeypatch.setenv("AMLITE_STORAGE", azurite)
    monkeypatch.delenv("AMLITE_ENDPOINT", raising=False)
    monkeypatch.chdir(tmp_path)  # no config.json on the way up
    monkeypatch.setattr(sys, "path", list(sys.path))  # `amlite run` puts the example's folder first
    return azurite


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.1)
    return value


def scored_files(run: PipelineRun) -> list[str]:
    scores = run.find_step_run("batchscoring")[0].get_output_data("scores")
    folder = Path(scores.download(str(Path.cwd() / f"scores-{run.id}"), show_progress=False))
    return [line.split(":")[0] for line in (folder / "parallel_run_step.txt").read_text().splitlines()]


def test_batch_scoring_driver_through_the_cli(example_env: str, monkeypatch: pytest.MonkeyPatch,
                                              experiment_name: str) -> None:
    from amlite_cli import main

    monkeypatch.setenv("BATCH_SCORING_FILES", "12")
    assert main(["run", str(BATCH_SCORING / "driver.py"), "--experiment", experiment_name, "--quiet"]) == 0

    (row,) = services_for(example_env).runs.list_runs(experiment_name)
    assert row["status"] == "Finished"
    run = PipelineRun(Experiment(Workspace(storage=example_env), experiment_name), row["PartitionKey"])
    assert sorted(scored_files(run)) == [f"flower-{i:04d}.csv" for i in range(12)]  # one prediction per file


@pytest.fixture
def scheduled_example(example_env: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples/batch_scoring/schedule.py, imported as a module (its folder on sys.path, as when run)."""
    monkeypatch.syspath_prepend(str(BATCH_SCORING))
    spec = importlib.util.spec_from_file_location("batch_scoring_schedule", BATCH_SCORING / "schedule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def devhost(example_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevHost]:
    """The Functions app as the demo serves it: HTTP API and blob trigger (timers off: the test ticks)."""
    monkeypatch.setenv("AzureWebJobsStorage", example_env)
    monkeypatch.setenv("AMLITE_AUTH", "none")
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, load_settings=False).start()
    try:
        yield host
    finally:
        host.stop()


def test_scheduled_batch_scoring_scores_dropped_files(scheduled_example: ModuleType, devhost: DevHost,
                                                      example_env: str) -> None:
    example = scheduled_example
    ws = Workspace(storage=example_env, endpoint=devhost.base_url)  # the demo's workspace: the app's REST API
    incoming = f"batch_scoring/test-{uuid.uuid4().hex[:8]}/incoming/"
    published, nightly, on_upload = example.publish_and_schedule(ws, incoming)
    try:
        nightly, on_upload = Schedule.get(ws, nightly.id), Schedule.get(ws, on_upload.id)
        assert (nightly.status, nightly.pipeline_id, nightly.experiment_name) == \
            ("Active", published.id, example.EXPERIMENT)
        assert nightly.recurrence == ScheduleRecurrence("Day", 1, hours=[2], minutes=[0],
                                                        start_time="2024-01-01T00:00:00", time_zone=TimeZone.UTC)
        assert [t[10:] for t in nightly.get_next_fire_times(3)] == ["T02:00:00Z"] * 3
        assert nightly.get_last_pipeline_run() is None  # a start_time in the past: no run at creation
        assert (on_upload.status, on_upload.pipeline_id, on_upload.recurrence) == ("Active", published.id, None)
        assert (on_upload.datastore_name, on_upload.path_on_datastore, on_upload.debounce_seconds) == \
            ("workspaceblobstore", incoming, example.DEBOUNCE_SECONDS)

        example.write_inputs(ws.get_default_datastore(), incoming, 4)  # the demo's drop, smaller
        store = ScheduleStore(services_for(example_env).account)
        held = wait_until(lambda: (store.get(on_upload.id).pending or {}).get("count") == 4
                          and store.get(on_upload.id))  # the dev host's blob trigger took all four in
        assert on_upload.get_last_pipeline_run() is None  # held for the debounce window
        deadline = parse_time(held.pending_deadline)
        assert deadline is not None
        services = services_for(example_env)
        report = run_tick(services, local_starter(services), now=deadline + timedelta(seconds=1),
                          schedule_ids=[on_upload.id])
        (fired,) = report.fired
        assert (fired.trigger, fired.blob) == ("debounce", held.pending["blob"])

        run = example.wait_for_run(on_upload, timeout=60)
        assert run.id == fired.run_id and run.get_status() == "Finished"
        assert sorted(line.split(":")[0] for line in example.predictions(run)) == \
            [f"flower-{i:04d}.csv" for i in range(4)]
        assert nightly.get_last_pipeline_run() is None
    finally:
        nightly.disable()
        on_upload.disable()
    assert [s.status for s in Schedule.get_schedules_for_pipeline_id(ws, published.id)] == ["Disabled"] * 2


STARTER = REPO_ROOT / "examples" / "starter" / "driver.py"


def _driver(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    import subprocess

    done = subprocess.run([sys.executable, str(STARTER), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=240)
    # stdout's lines (the last one is what CI reads); stderr appended after a marker, for failures
    return done.returncode, done.stdout.strip().splitlines() + ["--- stderr ---", *done.stderr.strip().splitlines()[-15:]]


def _out(lines: list[str]) -> list[str]:
    return lines[:lines.index("--- stderr ---")]


def test_starter_driver_actions_as_the_template_runs_them(example_env: str, tmp_path: Path) -> None:
    """`driver.py --local` and `--action validate|submit-experiment|publish-pipeline` with `--env`/`--workspace_name`."""
    import json
    import os

    from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline

    env = {**os.environ, "AMLITE_STORAGE": example_env, "AMLITE_ENDPOINT": "http://127.0.0.1:9/not-used-with-local"}
    code, lines = _driver("--local", "--action", "validate", "--workspace_name", "ci-ws", env=env, cwd=tmp_path)
    assert code == 0 and _out(lines)[-1] == "pipeline valid (2 steps) for workspace ci-ws", lines

    code, lines = _driver("--local", env=env, cwd=tmp_path)
    assert code == 0, lines[-20:]
    assert any(line.startswith("train Finished") for line in lines) and _out(lines)[-1].startswith("model downloaded to")

    code, lines = _driver("--local", "--action", "publish-pipeline", env=env, cwd=tmp_path)
    assert code == 0, lines[-20:]
    published = PublishedPipeline.get(Workspace(storage=example_env), id=_out(lines)[-1])  # the id is the last line
    assert published.name == "starter"

    config = tmp_path / "qa.json"  # a config without an endpoint is a local workspace; its auth is not needed
    config.write_text(json.dumps({"workspace_name": "qa-ws", "storage": example_env,
                                  "auth": {"client_id": "x", "client_secret_env": "UNSET"}}))
    code, lines = _driver("--action", "validate", "--config", str(config), env={**env, "AMLITE_ENDPOINT": ""},
                          cwd=tmp_path)
    assert code == 0 and _out(lines)[-1].endswith("workspace qa-ws"), lines
    code, lines = _driver("--action", "validate", "--env", "nope", env=env, cwd=tmp_path)
    assert code == 1 and "no config for --env 'nope'" in lines[-1]
