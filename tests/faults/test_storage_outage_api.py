"""Storage outage at the API: the dev host's own Azurite is stopped and started again mid-run.

While storage is down, every route answers 503 ``StorageUnavailable`` JSON with ``Retry-After`` within
its request budget (never a 500, never the exception's text), the SDK client waits what ``Retry-After``
says, and once storage is back the routes work, a run submitted just before the outage finishes, and a
submit refused during it succeeds when retried with the same ``Idempotency-Key``.

The Azurite here is this test's own (free ports, data on disk so a restart keeps it), not the session's.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from amlite_local.host import DevHost
from pipeline_core import Pipeline, PythonScriptStep, Workspace
from pipeline_core.client.errors import RemoteError
from pipeline_core.client.http import RestClient
from pipeline_core.rest.routes import ROUTES
from pipeline_core.storage.azurite import Azurite, AzuritePorts, ensure_azurite

pytestmark = pytest.mark.timeout(180)

REPO_ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("Finished", "Failed", "Canceled")
#: A short budget keeps the test quick; the default (5 s) is the same mechanism.
BUDGET_SECONDS = 1.0
#: The most one answer may take during the outage: the budget, one table backoff (<= 1 s here), slack for load.
ANSWER_LIMIT = BUDGET_SECONDS + 1.0 + 4.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OwnAzurite:
    ports: AzuritePorts
    location: Path
    handle: Azurite | None = None

    def start(self) -> None:
        self.handle = ensure_azurite(self.ports, location=self.location)
        assert self.handle.started_here, "another process answers on the free ports picked for this test"

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()  # SIGTERM: Azurite writes its data out before it exits
            self.handle = None

    def discard(self) -> None:
        """At the end nothing needs saving, and a SIGTERM'd Azurite may wait on idle connections: kill it."""
        if self.handle is not None and self.handle.process is not None:
            self.handle.process.kill()
        self.stop()


@pytest.fixture
def own_azurite(tmp_path: Path, azurite: str) -> Iterator[OwnAzurite]:
    """``azurite`` (the session's) is requested so nothing starts one on the default ports behind our back."""
    emulator = OwnAzurite(AzuritePorts(_free_port(), _free_port(), _free_port()), tmp_path / "azurite")
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.discard()


@pytest.fixture
def outage_host(own_azurite: OwnAzurite) -> Iterator[DevHost]:
    storage = own_azurite.ports.connection_string()
    names = ("AMLITE_STORAGE", "AzureWebJobsStorage", "AMLITE_AUTH", "AMLITE_STORAGE_BUDGET_SECONDS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({"AMLITE_STORAGE": storage, "AzureWebJobsStorage": storage, "AMLITE_AUTH": "none",
                       "AMLITE_STORAGE_BUDGET_SECONDS": str(BUDGET_SECONDS)})
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, enable_blob_triggers=False, load_settings=False)
    try:
        host.start()
        yield host
    finally:
        host.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _publish(storage: str, tmp_path: Path) -> str:
    src = tmp_path / "src"
    src.mkdir()
    (src / "work.py").write_text("import time\ntime.sleep(3.0)\nprint('work done')\n")
    step = PythonScriptStep("work.py", name="work", source_directory=str(src), allow_reuse=False)
    return str(Pipeline(Workspace(storage=storage), [step]).publish(name=f"outage-{uuid.uuid4().hex[:8]}").id)


def _submit(base: str, pipeline_id: str, key: str) -> requests.Response:
    return requests.post(f"{base}/api/pipelines/{pipeline_id}/runs", json={"ExperimentName": "outage"},
                         headers={"Idempotency-Key": key}, timeout=30)


def _wait(base: str, run_id: str, timeout: float = 90.0, context: str = "") -> str:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{base}/api/runs/{run_id}", timeout=30)
        if answer.status_code == 200 and answer.json()["Status"]["StatusCode"] in TERMINAL:
            return str(answer.json()["Status"]["StatusCode"])
        assert time.monotonic() < deadline, \
            f"run {run_id} did not end{context}: {answer.status_code} {answer.text[:500]}"
        time.sleep(0.2)


def _wait_step_running(base: str, run_id: str, timeout: float = 60.0) -> None:
    """Until the run's step runs. Storage then sees only the step's reads and log appends, which are retried; a
    run-row write cut off mid-flight is the engine's to retry (not this test's subject)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = requests.get(f"{base}/api/runs/{run_id}", params={"steps": "true"}, timeout=30).json()["Steps"]
        if steps and steps[0]["Status"]["StatusCode"] == "Running":
            return
        time.sleep(0.1)
    raise AssertionError(f"the step of run {run_id} did not start within {timeout} s")


def _route_request(route: Any, values: dict[str, str]) -> tuple[str, str, Any]:
    """A request each route would accept with storage up (so it has to reach storage to answer)."""
    path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), route.path)
    body: Any = None
    if route.method in ("POST", "PATCH"):
        body = {"ExperimentName": "outage"} if route.request_schema and "Submit" in route.request_schema else {}
    return route.method, path, body


def _call(base: str, method: str, path: str, body: Any) -> tuple[requests.Response, float]:
    began = time.monotonic()
    answer = requests.request(method, base + path, json=body, timeout=60,
                              headers={"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None)
    return answer, time.monotonic() - began


def test_storage_outage_answers_503_and_loses_no_run(own_azurite: OwnAzurite, outage_host: DevHost,
                                                     tmp_path: Path) -> None:
    base = outage_host.base_url
    pipeline_id = _publish(own_azurite.ports.connection_string(), tmp_path)
    first = _submit(base, pipeline_id, "before-the-outage")
    assert first.status_code == 202, first.text
    run_id = first.json()["Id"]
    _wait_step_running(base, run_id)

    own_azurite.stop()  # mid-step: the step ends during the outage and reports once storage is back
    outage_began = time.monotonic()
    values = {"run_id": run_id, "pipeline_id": pipeline_id, "step": "work", "experiment": "outage",
              "endpoint": "e", "endpoint_id": "e", "schedule_id": "s", "subscription_id": "s",
              "resource_group": "r", "workspace_name": "w", "version": "1"}
    calls = [_route_request(route, values) for route in ROUTES]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda call: (call, *_call(base, *call)), calls))
    unavailable = 0
    for (method, path, _), answer, took in answers:
        described = f"{method} {path} -> {answer.status_code} in {took:.1f} s: {answer.text[:300]}"
        assert answer.status_code < 500 or answer.status_code == 503, described
        assert answer.headers["Content-Type"].startswith("application/json"), described
        if answer.status_code == 503:
            error = answer.json()["error"]
            assert error["code"] == "StorageUnavailable" and answer.headers["Retry-After"] == "5", described
            assert "127.0.0.1" not in error["message"] and "Error" not in error["message"], described
            unavailable += 1
        else:  # answered without storage: only the OpenAPI document, or a request refused before any read
            assert path.endswith("/openapi.json") or 400 <= answer.status_code < 500, described
    storage_routes = [r for r in ROUTES if not r.path.endswith("/openapi.json")]
    assert unavailable >= len(storage_routes) - 8, f"only {unavailable} of {len(ROUTES)} routes answered 503"
    for (method, path, _), answer, took in answers:
        if answer.status_code == 503:
            # 16 requests share the host's 8 HTTP threads: at most two answers' worth of waiting each
            assert took < 2 * ANSWER_LIMIT, f"{method} {path} took {took:.1f} s"

    refused = _submit(base, pipeline_id, "during-the-outage")
    assert refused.status_code == 503, refused.text

    sleeps: list[float] = []
    client = RestClient(base, max_retries=1, sleep=sleeps.append)
    with pytest.raises(RemoteError) as raised:
        client.get_json(f"/api/runs/{run_id}")
    assert raised.value.status == 503 and sleeps == [5.0]  # the client waited what Retry-After said
    with pytest.raises(RemoteError) as raised:  # a POST without Idempotency-Key may have half happened: no retry
        client.post_json(f"/api/runs/{run_id}/cancel")
    assert raised.value.code == "StorageUnavailable" and sleeps == [5.0]

    own_azurite.start()
    outage = time.monotonic() - outage_began
    answer = requests.get(f"{base}/api/runs/{run_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    context = f" after a {outage:.0f} s outage"
    assert _wait(base, run_id, context=context) == "Finished", f"the run submitted before the outage failed{context}"
    retried = _submit(base, pipeline_id, "during-the-outage")
    assert retried.status_code == 202, retried.text
    assert _wait(base, retried.json()["Id"]) == "Finished"
    log = requests.get(f"{base}/api/runs/{run_id}/steps/work/logs", params={"file": "stdout.txt"}, timeout=30)
    assert "work done" in log.text

