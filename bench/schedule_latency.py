"""Latency from a blob upload to the scheduled run being Queued, under `amlite dev`.

Starts `amlite dev` (a real subprocess: the repo's Functions app, its blob
trigger and Durable engine) against Azurite, creates a data-change schedule on
the default datastore, then uploads one blob at a time and polls the run
table every 5 ms until the run that upload started is Queued (or later).

Peer: AML v1 data-change schedules poll the datastore every
``polling_interval`` minutes (default 5), so a change waits 0 to 5 min,
2.5 min on average, before its run is even submitted.
Target for amlite: median <= 2 s with the blob trigger.
Usage: ``python bench/schedule_latency.py [--uploads 20]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("AMLITE_QUIET", "1")
os.environ.setdefault("AMLITE_CACHE_DIR", tempfile.mkdtemp(prefix="amlite-bench-"))
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from pipeline_core import (  # noqa: E402
    DataPath,
    DataPathComputeBinding,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
    Schedule,
    Workspace,
)
from pipeline_core.engine.services import services_for  # noqa: E402
from pipeline_core.schedules.firing import blob_fire_key, fire_run_id  # noqa: E402
from pipeline_core.storage.azurite import AzuritePorts, ensure_azurite  # noqa: E402

TARGET_SECONDS = 2.0
AML_POLL_MINUTES = 5
STARTED = ("Queued", "Running", "Finished", "Failed", "Canceled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dev(storage: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AMLITE_STORAGE": storage, "AzureWebJobsStorage": storage, "AMLITE_AUTH": "none"}
    log = open(Path(tempfile.gettempdir()) / f"amlite-dev-bench-{port}.log", "wb")  # noqa: SIM115 - the child's
    process = subprocess.Popen([sys.executable, "-m", "amlite_cli", "dev", str(REPO), "--port", str(port),
                                "--no-timers"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"amlite dev exited ({process.returncode}); see {log.name}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("amlite dev did not answer within 60 s")


def publish(ws: Workspace) -> str:
    """One no-op step with a DataPath parameter ``data`` (what the schedule sets to the changed blob)."""
    src = Path(tempfile.mkdtemp(prefix="bench-src-"))
    (src / "noop.py").write_text("pass\n")
    ws.get_default_datastore()._container.upload_blob("bench-default/seed.txt", b"seed", overwrite=True)
    data = PipelineParameter("data", DataPath(datastore=ws.get_default_datastore(),
                                              path_on_datastore="bench-default/seed.txt"))
    data_in = (data, DataPathComputeBinding())
    step = PythonScriptStep("noop.py", name="noop", source_directory=str(src), allow_reuse=False,
                            inputs=[data_in], arguments=["--data", data_in])
    return Pipeline(ws, [step]).publish(name=f"bench-latency-{uuid.uuid4().hex[:6]}").id


def measure(ws: Workspace, schedule: Schedule, folder: str, index: int) -> float:
    services = services_for(ws.storage)
    container = ws.get_default_datastore()._container
    name = f"{folder}upload-{index:03d}.txt"
    began = time.perf_counter()
    etag = str(container.get_blob_client(name).upload_blob(f"upload {index}".encode())["etag"]).strip('"')
    run_id = fire_run_id(schedule.id, blob_fire_key("workspaceblobstore", name, etag))
    deadline = began + 60
    while time.perf_counter() < deadline:
        try:
            if services.runs.get_run(run_id).get("status") in STARTED:
                return time.perf_counter() - began
        except Exception:  # noqa: BLE001 - not created yet
            pass
        time.sleep(0.005)
    raise SystemExit(f"upload {index}: no Queued run within 60 s (run id {run_id})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    # A dedicated, empty Azurite: the dev host's blob trigger lists its container on every poll, so a shared
    # emulator holding thousands of blobs (a test suite's) would measure the emulator, not amlite.
    ports = AzuritePorts(free_port(), free_port(), free_port())
    os.environ.update({"AMLITE_AZURITE_BLOB_PORT": str(ports.blob), "AMLITE_AZURITE_QUEUE_PORT": str(ports.queue),
                       "AMLITE_AZURITE_TABLE_PORT": str(ports.table)})
    azurite = ensure_azurite(ports, temporary=True)
    port = free_port()
    dev = start_dev(azurite.connection_string, port)
    schedule = None
    try:
        ws = Workspace(storage=azurite.connection_string)
        folder = f"bench-incoming-{uuid.uuid4().hex[:6]}/"
        schedule = Schedule.create(ws, "bench-latency", publish(ws), "bench-latency",
                                   datastore=ws.get_default_datastore(), path_on_datastore=folder,
                                   data_path_parameter_name="data")
        measure(ws, schedule, folder, 0)  # warm: imports, clients, spec and snapshot caches in the host
        latencies = [measure(ws, schedule, folder, i) for i in range(1, args.uploads + 1)]
        median, worst = statistics.median(latencies), max(latencies)
        p90 = statistics.quantiles(latencies, n=10)[-1] if len(latencies) >= 2 else worst
        print(f"blob upload -> run Queued under `amlite dev`, {len(latencies)} uploads:")
        print(f"  median {median * 1000:7.0f} ms   p90 {p90 * 1000:7.0f} ms   max {worst * 1000:7.0f} ms"
              f"   (target median <= {TARGET_SECONDS:.0f} s)")
        print(f"  AML v1 (polling_interval={AML_POLL_MINUTES} min): 0-{AML_POLL_MINUTES * 60} s, "
              f"{AML_POLL_MINUTES * 30} s on average, before the run is submitted")
        return 0 if median <= TARGET_SECONDS else 1
    finally:
        if schedule is not None:
            schedule.disable()
        dev.terminate()
        try:
            dev.wait(timeout=20)
        except subprocess.TimeoutExpired:
            dev.kill()
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
