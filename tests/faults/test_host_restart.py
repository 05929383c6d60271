"""A dev host killed with ``kill -9`` mid-step: another host on the same storage resumes its runs.

As under Durable Functions: the finished upstream step is not run again (its
completion is in the stored history), the interrupted step runs again once,
and the run finishes. A dead host that is still a zombie (not reaped by its
parent) counts as dead, and a host already running notices the death on its
periodic sweep, not only at start-up.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_process import (
    HostProcess,
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
from pipeline_core.engine.orphans import owner_is_gone

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "counters"
    folder.mkdir()
    try:
        yield folder
    finally:  # a step the killed host left behind (stopping those is the step runner's job, not tested here)
        for name in ("a", "b"):
            kill_group(pid_of(folder, name))


@pytest.fixture
def hosts(azurite: str, tmp_path: Path) -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    try:
        yield started
    finally:
        for host in started:
            host.stop()
            host.reap()


def _chain(ws: Workspace, tmp_path: Path, counters: Path):  # type: ignore[no-untyped-def]
    """a (quick) -> b (never ends on its first run; quick on the next)."""
    return publish_chain(ws, tmp_path / "src", {
        "a": step_script(counters, "a", output="a_out"),
        "b": step_script(counters, "b", "if runs == 1:\n    time.sleep(600)", output="b_out"),
    })


def test_a_killed_host_is_resumed_by_the_next_one(azurite: str, tmp_path: Path, counters: Path,
                                                   hosts: list[HostProcess]) -> None:
    ws = Workspace(storage=azurite)
    env = {**host_env(azurite), "AMLITE_CACHE_DIR": str(tmp_path / "cache")}
    first = HostProcess(env, tmp_path / "host.log").start()
    hosts.append(first)
    published = _chain(ws, tmp_path, counters)
    answer = submit(first, published)
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["Id"]
    until(lambda: runs_of(counters, "b") == 1, 30, "step b started")

    first.kill()  # kill -9 while b runs
    kill_group(pid_of(counters, "b"))  # the step process the dead host left (see the fixture)
    assert run_status(ws, run_id) == "Running"
    work = tmp_path / "cache" / "work"
    (left,) = work.glob(f"host-{socket.gethostname()}_{first.pid}_*")  # b's work folder is still in it
    assert any(left.iterdir())

    second = HostProcess(env, tmp_path / "host.log").start()
    hosts.append(second)
    until(lambda: run_status(ws, run_id) in ("Finished", "Failed", "Canceled"), 40, "the run ended")
    assert run_status(ws, run_id) == "Finished", second.output()
    assert runs_of(counters, "a") == 1  # finished before the kill: not run again
    assert runs_of(counters, "b") == 2  # interrupted: run again, once
    assert int(step_row(ws, run_id, "a").get("attempt") or 0) == 1
    assert int(step_row(ws, run_id, "b").get("attempt") or 0) == 2
    # The second host resumed its orchestration (it takes the run row too, unless the run finished first).
    assert f"resuming orchestration '{run_id}'" in second.output(), second.output()
    # What the killed host left on disk went once the next host made its own work folder.
    until(lambda: not left.exists(), 10, "the killed host's work folder removed")
    assert list(work.glob(f"host-{socket.gethostname()}_{second.pid}_*"))  # the live host's own is kept


def test_a_zombie_host_is_dead_and_a_running_host_notices(azurite: str, tmp_path: Path, counters: Path,
                                                          hosts: list[HostProcess]) -> None:
    ws = Workspace(storage=azurite)
    env = host_env(azurite)
    watcher = HostProcess(env, tmp_path / "watcher.log").start()  # already running when the other dies
    hosts.append(watcher)
    doomed = HostProcess(env, tmp_path / "doomed.log").start()
    hosts.append(doomed)
    published = _chain(ws, tmp_path, counters)
    run_id = submit(doomed, published).json()["Id"]
    until(lambda: runs_of(counters, "b") == 1, 30, "step b started")
    host_id = str(services_host_id(ws, run_id))
    assert f"/{doomed.pid}/" in host_id

    doomed.kill(reap=False)  # dead, but not reaped: /proc/<pid> still exists, in state Z
    kill_group(pid_of(counters, "b"))
    with open(f"/proc/{doomed.pid}/stat") as handle:
        assert handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    assert host_id.startswith(socket.gethostname() + "/") and owner_is_gone(host_id)

    until(lambda: run_status(ws, run_id) in ("Finished", "Failed", "Canceled"), 40, "the watcher resumed the run")
    assert run_status(ws, run_id) == "Finished", watcher.output()
    assert runs_of(counters, "a") == 1 and runs_of(counters, "b") == 2
    doomed.reap()


def services_host_id(ws: Workspace, run_id: str) -> object:
    from pipeline_core.engine.services import services_for

    return services_for(ws.storage).runs.get_run(run_id).get("host_id")
