"""SIGTERM to a dev host with a step running: a clean exit within the grace period, nothing finished lost.

A step that ends within the grace keeps its outputs and is recorded Finished;
the next step is not started but stays scheduled, and the next host runs it.
A step that never ends is stopped at the end of the grace (its process group
killed) and the host exits; the run stays resumable, not Failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_process import (
    HostProcess,
    alive,
    host_env,
    kill_group,
    pid_of,
    publish_chain,
    run_status,
    runs_of,
    step_row,
    step_script,
    submit,
    until,
)

from pipeline_core import Workspace
from pipeline_core.engine.services import services_for
from pipeline_core.storage.blobs import list_prefix

pytestmark = pytest.mark.timeout(90)
FUTURES_ERROR = "cannot schedule new futures"


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "counters"
    folder.mkdir()
    try:
        yield folder
    finally:
        for name in ("a", "b", "forever"):
            kill_group(pid_of(folder, name))


@pytest.fixture
def hosts() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    try:
        yield started
    finally:
        for host in started:
            host.stop()


def test_a_step_that_ends_within_the_grace_keeps_its_outputs(azurite: str, tmp_path: Path, counters: Path,
                                                             hosts: list[HostProcess]) -> None:
    ws = Workspace(storage=azurite)
    env = host_env(azurite)
    host = HostProcess(env, tmp_path / "host.log", grace=20).start()
    hosts.append(host)
    published = publish_chain(ws, tmp_path / "src", {
        "a": step_script(counters, "a", "time.sleep(3)", output="a_out"),
        "b": step_script(counters, "b", output="b_out"),
    })
    run_id = submit(host, published).json()["Id"]
    until(lambda: runs_of(counters, "a") == 1, 30, "step a started")

    began = time.monotonic()
    host.terminate()
    assert host.wait(25) == 0
    assert time.monotonic() - began < 20
    log = host.output()
    assert FUTURES_ERROR not in log, log
    a = step_row(ws, run_id, "a")
    assert a["status"] == "Finished", a
    location = a["outputs"]["a_out"]
    assert location["count"] == 1
    assert list_prefix(services_for(ws.storage).container_for(location["datastore"]), location["path"])
    assert step_row(ws, run_id, "b")["status"] == "NotStarted"  # scheduled, stored, not started
    assert run_status(ws, run_id) == "Running"  # resumable, not failed

    successor = HostProcess(env, tmp_path / "host.log").start()
    hosts.append(successor)
    until(lambda: run_status(ws, run_id) in ("Finished", "Failed", "Canceled"), 40, "the run ended")
    assert run_status(ws, run_id) == "Finished", successor.output()
    assert runs_of(counters, "a") == 1 and runs_of(counters, "b") == 1


def test_a_never_ending_step_is_stopped_at_the_end_of_the_grace(azurite: str, tmp_path: Path, counters: Path,
                                                                hosts: list[HostProcess]) -> None:
    ws = Workspace(storage=azurite)
    host = HostProcess(host_env(azurite), tmp_path / "host.log", grace=2).start()
    hosts.append(host)
    published = publish_chain(ws, tmp_path / "src", {"forever": step_script(counters, "forever", "time.sleep(600)")})
    run_id = submit(host, published).json()["Id"]
    until(lambda: runs_of(counters, "forever") == 1, 30, "the step started")
    step_pid = pid_of(counters, "forever")
    assert alive(step_pid)

    began = time.monotonic()
    host.terminate()
    assert host.wait(20) == 0
    assert time.monotonic() - began < 10
    until(lambda: not alive(step_pid), 5, "the step process is gone")
    log = host.output()
    assert FUTURES_ERROR not in log, log
    assert "still running" in log
    assert step_row(ws, run_id, "forever")["status"] == "Running"  # interrupted, not failed: it runs again
    assert run_status(ws, run_id) == "Running"
