"""A dev host killed during a burst of submits: every 202'd run ends, and retries with the same key are safe.

30 concurrent POSTs, each with its own ``Idempotency-Key``; the host is killed
with ``kill -9`` once some have been answered. The next host starts the runs
the dead one had written but not started; a retry of every request (answered
or not) answers 202 with the same run as before (never a second run, never a
409 "busy" for a claim whose host is gone), and every run ends.

The cases a random kill may or may not hit are also pinned down in process:
a claim left by a dead process, a run row a dead host never queued, a cancel
of such a run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from host_process import HostProcess, host_env, publish_chain, run_status, submit, until

from pipeline_core import Workspace
from pipeline_core.application.stores import idempotency_store
from pipeline_core.engine.activities import request_cancel
from pipeline_core.engine.services import services_for
from pipeline_core.rest.api import handle, route_for
from pipeline_core.rest.request import ServiceRequest
from pipeline_core.storage.run_store import RUN_ROW

pytestmark = pytest.mark.timeout(120)
BURST = 30


@pytest.fixture
def hosts() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    try:
        yield started
    finally:
        for host in started:
            host.stop()


def test_runs_of_a_host_killed_mid_burst_all_end_and_retries_are_safe(azurite: str, tmp_path: Path,
                                                                      hosts: list[HostProcess]) -> None:
    ws = Workspace(storage=azurite)
    env = host_env(azurite)
    first = HostProcess(env, tmp_path / "host.log").start()
    hosts.append(first)
    published = publish_chain(ws, tmp_path / "src", {"noop": "pass\n"})
    keys = [f"burst-{uuid.uuid4().hex}" for _ in range(BURST)]
    answered: dict[str, str] = {}

    def post(key: str) -> None:
        try:
            answer = submit(first, published, key, timeout=30)
        except requests.RequestException:
            return  # the host died under it
        if answer.status_code == 202:
            answered[key] = answer.json()["Id"]

    with ThreadPoolExecutor(BURST) as pool:
        futures = [pool.submit(post, key) for key in keys]
        until(lambda: len(answered) >= 5, 40, "some submits answered")
        first.kill()
        for future in futures:
            future.result(40)
    assert 5 <= len(answered) <= BURST

    second = HostProcess(env, tmp_path / "host.log").start()
    hosts.append(second)
    retried: dict[str, str] = {}
    for key in keys:
        answer = submit(second, published, key, timeout=30)
        assert answer.status_code == 202, (key, answer.status_code, answer.text)
        retried[key] = answer.json()["Id"]
        if key in answered:
            assert retried[key] == answered[key]  # the same run, not a second one
            assert answer.headers.get("Idempotent-Replayed") == "true"
    runs = set(retried.values())
    assert len(runs) == BURST  # one run per key
    until(lambda: all(run_status(ws, r) in ("Finished", "Failed", "Canceled") for r in runs), 90,
          "every run ended")
    assert {run_status(ws, r) for r in runs} == {"Finished"}, second.output()
    again = submit(second, published, keys[0])
    assert again.status_code == 202 and again.json()["Id"] == retried[keys[0]]
    assert again.json()["Status"]["StatusCode"] == "Finished"  # a retry answers the run as it is


def _dead_host_id() -> str:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with open("/proc/self/stat") as handle:
        start = handle.read().rsplit(")", 1)[1].split()[19]
    return f"{socket.gethostname()}/{gone.pid}/{start}"


def _post(services, published, key: str | None = None) -> tuple[int, dict]:  # type: ignore[no-untyped-def,type-arg]
    """A submit through the service layer, as the HTTP function calls it (the caller starts the run)."""
    request = ServiceRequest(route_params={"pipeline_id": published.id},
                             headers={"Idempotency-Key": key} if key else {},
                             body=json.dumps({"ExperimentName": "faults"}).encode(), base_url="http://host",
                             method="POST", launch=False)
    response = handle(services, route_for("submitPipelineRun"), request)
    return response.status, response.body


def test_a_key_claimed_by_a_dead_host_is_taken_over_not_busy(workspace: Workspace, tmp_path: Path) -> None:
    services = services_for(workspace.storage)
    published = publish_chain(workspace, tmp_path / "src", {"noop": "pass\n"})
    store = idempotency_store(services)
    # The same request body under a key a host claimed and then died before creating its run: a retry must
    # not answer 409 "busy" until the 24 h validity ends; it takes the claim over and creates the run.
    key = f"orphan-{uuid.uuid4().hex}"
    claimed = str(uuid.uuid4())
    scope = f"pipeline:{published.id}"
    fingerprint = _fingerprint_of(store, scope, services, published)
    assert store.claim(scope, key, claimed, fingerprint, owner=_dead_host_id()) is None
    began = time.monotonic()
    status, answer = _post(services, published, key)
    assert status == 202, answer
    assert time.monotonic() - began < 5
    assert answer["Id"] != claimed
    taken = store.get(scope, key)
    assert taken is not None and taken.run_id == answer["Id"]
    status, again = _post(services, published, key)  # and from now on the key answers that run
    assert status == 202 and again["Id"] == answer["Id"]


def _fingerprint_of(store, scope: str, services, published) -> str:  # type: ignore[no-untyped-def]
    """The fingerprint a plain submit of ``published`` records (read back from a real claim)."""
    key = f"probe-{uuid.uuid4().hex}"
    _post(services, published, key)
    entry = store.get(scope, key)
    assert entry is not None
    return str(entry.fingerprint)


def test_a_never_started_run_of_a_dead_host_is_canceled_not_left_cancel_requested(workspace: Workspace) -> None:
    services = services_for(workspace.storage)
    run_id = str(uuid.uuid4())
    services.runs.create_run(run_id, "faults", {"graph_id": "g", "host_id": _dead_host_id()}, [("s", {})])
    assert request_cancel(services, run_id)["status"] == "Canceled"
    state = services.runs.get_state(run_id)
    assert state.run["status"] == "Canceled" and state.steps["s"]["status"] == "Canceled"
    assert "its host had stopped" in state.run["error"]["message"]


def test_a_never_started_run_of_a_dead_host_is_started_by_the_sweep(workspace: Workspace, tmp_path: Path) -> None:
    from amlite_local.engine import _load_engine

    services = services_for(workspace.storage)
    published = publish_chain(workspace, tmp_path / "src", {"noop": "pass\n"})
    status, answer = _post(services, published)  # written Queued, never started ...
    run_id = answer["Id"]
    services.runs.update(run_id, RUN_ROW, {"host_id": _dead_host_id()})  # ... by a host that then died
    assert run_status(workspace, run_id) == "Queued"
    engine = _load_engine(workspace.storage)
    from amlite_local.resume import ResumeSweeper
    from pipeline_core.engine.launch import host_identity

    ResumeSweeper(engine, services, host_identity()).sweep()
    until(lambda: run_status(workspace, run_id) == "Finished", 30, "the swept run finished")
    assert f"/{os.getpid()}/" in str(services.runs.get_run(run_id)["host_id"])
