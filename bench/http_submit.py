"""Latency of a published pipeline's HTTP endpoint: POST submit -> 202, and submit -> first step Running.

Starts (or reuses) Azurite and serves the repo's Functions app with the dev host in a process of its
own, as ``amlite dev`` runs (``python -m amlite_local``, ``AMLITE_AUTH=none``, on a free loopback port):
the bench's client and its poller are another process, so they do not share the host's GIL. It
publishes a one-step no-op pipeline, then sends ``--requests`` submits one after another over a
keep-alive session. For each: the time to the 202, and the time until the step row in Table storage
says Running (polled every ``--poll-ms``; the row's own ``start_time`` is printed as a cross-check).
Each run is let finish before the next submit, so the figures are per request, not under load.

An Azurite already answering on the configured ports is reused, else a fresh in-memory one is
started; set ``AMLITE_AZURITE_BLOB_PORT`` / ``_QUEUE_PORT`` / ``_TABLE_PORT`` to other ports for a
private emulator on a shared machine. The dev host's blob-trigger poller (a dev-only stand-in for the
host's container scan) and timers are off: they are not on the request path.

Two floors are measured in the same run, after the submits, as many times:

- *storage*: the three storage requests a 202 waits for, made back to back from this process with the
  same SDK (read the published pipeline's entity, write a run's rows in one entity-group transaction,
  create the orchestration's instance entity). A 202 is only sent once the run is stored and its
  orchestration accepted (``functions/http_adapter.py``), so no submit can answer faster than these;
- *host*: a round trip to the same dev host that touches no storage (an unknown route's 404), the cost of
  the socket, aiohttp and the host's routing.

Targets (issue #16): p50 submit <= 15 ms; p50 submit -> Running <= 50 ms.
Usage: ``python bench/http_submit.py [--requests 200]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AMLITE_QUIET", "1")
os.environ.setdefault("AMLITE_CACHE_DIR", tempfile.mkdtemp(prefix="amlite-bench-"))

import requests  # noqa: E402

from pipeline_core import Pipeline, PythonScriptStep, Workspace  # noqa: E402
from pipeline_core.engine.services import services_for  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_SUBMIT_MS = 15.0
TARGET_RUNNING_MS = 50.0
WARMUP = 10
NOT_YET_RUNNING = ("NotStarted", "Queued")
TERMINAL = ("Finished", "Failed", "Canceled")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def measure(base: str, ws: Workspace, count: int, poll_s: float) -> dict[str, list[float]]:
    src = Path(tempfile.mkdtemp(prefix="bench-noop-"))
    (src / "noop.py").write_text("pass\n")
    step = PythonScriptStep("noop.py", name="noop", source_directory=str(src), allow_reuse=False)
    published = Pipeline(ws, [step]).publish(name=f"bench-http-{uuid.uuid4().hex[:6]}")
    url = base + "/api/" + published.endpoint.split("/api/", 1)[1]  # endpoint names the default local host
    runs = services_for(ws.storage).runs
    session = requests.Session()
    body = {"ExperimentName": f"bench-http-{uuid.uuid4().hex[:6]}"}
    out: dict[str, list[float]] = {"submit": [], "running": [], "running_row": []}
    for i in range(WARMUP + count):
        wall = time.time()
        began = time.perf_counter()
        answer = session.post(url, json=body, timeout=30)
        accepted = time.perf_counter()
        if answer.status_code != 202:
            raise SystemExit(f"submit {i} answered {answer.status_code}: {answer.text[:300]}")
        run_id = answer.json()["Id"]
        while True:
            row = runs.get_step(run_id, "noop")
            if row.get("status") not in NOT_YET_RUNNING:
                running = time.perf_counter()
                break
            if time.perf_counter() - began > 30:
                raise SystemExit(f"run {run_id}: the step is still {row.get('status')} after 30 s")
            time.sleep(poll_s)
        while runs.get_run(run_id).get("status") not in TERMINAL:
            time.sleep(0.01)
        if i < WARMUP:
            continue
        out["submit"].append((accepted - began) * 1000)
        out["running"].append((running - began) * 1000)
        start_time = runs.get_step(run_id, "noop").get("start_time")
        if start_time:
            out["running_row"].append((_epoch(start_time) - wall) * 1000)
    return out


def storage_floor(storage: str, count: int) -> list[float]:
    """The three storage requests a 202 waits for, back to back (see the module docstring), in ms each."""
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(storage)
    records, runs, instances = (service.create_table_if_not_exists(f"benchfloor{name}{uuid.uuid4().hex[:6]}")
                                for name in ("records", "runs", "instances"))
    records.upsert_entity({"PartitionKey": "pipelines", "RowKey": "p", "spec": "x" * 2000})
    took = []
    try:
        for i in range(WARMUP + count):
            run_id = uuid.uuid4().hex
            began = time.perf_counter()
            records.get_entity("pipelines", "p")
            runs.submit_transaction([("upsert", {"PartitionKey": run_id, "RowKey": "run", "status": "Queued",
                                                 "spec": "x" * 500}),
                                     ("upsert", {"PartitionKey": run_id, "RowKey": "step:noop",
                                                 "status": "NotStarted"})])
            instances.create_entity({"PartitionKey": run_id, "RowKey": "", "input": json.dumps(run_id)})
            if i >= WARMUP:
                took.append((time.perf_counter() - began) * 1000)
    finally:
        for table in (records, runs, instances):
            service.delete_table(table.table_name)
    return took


def host_floor(base: str, count: int) -> list[float]:
    """A dev-host round trip that touches no storage (an unknown route answers 404), in ms each."""
    session, took = requests.Session(), []
    for i in range(WARMUP + count):
        began = time.perf_counter()
        answer = session.get(base + "/api/no-such-route", timeout=30)
        if answer.status_code != 404:
            raise SystemExit(f"the floor's unknown route answered {answer.status_code}")
        if i >= WARMUP:
            took.append((time.perf_counter() - began) * 1000)
    return took


def report(results: dict[str, list[float]]) -> bool:
    ok = True
    rows = [("POST submit -> 202", results["submit"], TARGET_SUBMIT_MS),
            ("submit -> step Running (polled)", results["running"], TARGET_RUNNING_MS),
            ("submit -> step start_time (row)", results["running_row"], None),
            ("floor: the 202's 3 storage requests", results["storage_floor"], None),
            ("floor: a dev-host round trip (404)", results["host_floor"], None)]
    print(f"{'':34} {'p50':>8} {'p95':>8} {'max':>8}   target (p50)")
    for label, values, target in rows:
        p50, p95 = percentile(values, 50), percentile(values, 95)
        verdict = ""
        if target is not None:
            met = p50 <= target
            ok = ok and met
            verdict = f"<= {target:.0f} ms  {'met' if met else 'MISSED'}"
        print(f"{label:34} {p50:7.1f}  {p95:7.1f}  {max(values):7.1f}   {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--poll-ms", type=float, default=2.0, help="step row poll interval")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    azurite = ensure_azurite(temporary=True)
    try:
        with serving(azurite.connection_string) as base:
            ws = Workspace(storage=azurite.connection_string)
            results = measure(base, ws, args.requests, args.poll_ms / 1000)
            results["storage_floor"] = storage_floor(azurite.connection_string, args.requests)
            results["host_floor"] = host_floor(base, args.requests)
        print(f"{args.requests} sequential submits of a one-step no-op published pipeline "
              f"({WARMUP} warm-up requests not counted), ms:")
        report(results)
        return 0
    finally:
        azurite.stop()


@contextlib.contextmanager
def serving(storage: str) -> Iterator[str]:
    """The repo's app on the dev host in a process of its own (``amlite dev``); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AMLITE_STORAGE": storage, "AzureWebJobsStorage": storage, "AMLITE_AUTH": "none",
           "PYTHONUNBUFFERED": "1"}
    host = subprocess.Popen([sys.executable, "-m", "amlite_local", str(REPO_ROOT), "--port", str(port),
                             "--no-timers", "--no-blob-triggers"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert host.stderr is not None
        seen = ""
        while "Host started" not in seen:
            line = host.stderr.readline()
            if not line:
                raise SystemExit(f"the dev host exited before it started:\n{seen}")
            seen += line
        threading.Thread(target=host.stderr.read, daemon=True).start()  # keep its pipe drained
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(host.pid, signal.SIGTERM)
        try:
            host.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(host.pid, signal.SIGKILL)
            host.wait()


if __name__ == "__main__":
    sys.exit(main())
