"""`make run`: the starter pipeline published as an HTTP endpoint and run the way an external caller would.

1. Azurite (reused if running, else started with its data in `.azurite/`);
2. the Functions app served by amlite's dev host on 127.0.0.1:7071;
3. the starter pipeline published (`pipeline.publish(...)`);
4. its endpoint POSTed with a parameter, exactly as AML v1's REST example does;
5. the run followed over the REST API to Finished, then its summary and model.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AMLITE_QUIET", "1")
os.environ.setdefault("AMLITE_AUTH", "none")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from amlite_local.host import DevHost  # noqa: E402
from pipeline_core.pipeline.core.run import PortDataReference  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

console = Console(highlight=False, soft_wrap=True)
TERMINAL = {"Finished", "Failed", "Canceled"}


def free_port(preferred: int = 7071) -> int:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def follow(base: str, run_id: str, timeout: float = 600) -> dict:
    """Poll GET /api/runs/{id} (with steps) and print each step's status change."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        run = requests.get(f"{base}/api/runs/{run_id}", params={"steps": "true"}, timeout=30).json()
        steps = run.get("Steps") or requests.get(f"{base}/api/runs/{run_id}/steps", timeout=30).json().get("Value", [])
        for step in steps:
            status = step["Status"]["StatusCode"]
            if seen.get(step["Name"]) != status:
                note = " (reused)" if step.get("IsReused") else ""
                console.print(f"  step [bold]{step['Name']}[/]: {status}{note}")
                seen[step["Name"]] = status
        if run["Status"]["StatusCode"] in TERMINAL or time.monotonic() > deadline:
            run["Steps"] = steps
            return run
        time.sleep(0.2)


def main() -> int:
    azurite = ensure_azurite(location=ROOT / ".azurite")
    os.environ["AMLITE_STORAGE"] = azurite.connection_string
    port = free_port()
    # The example needs the HTTP API and the orchestrations only: no schedules fire here.
    host = DevHost(str(ROOT), "127.0.0.1", port, enable_timers=False, enable_blob_triggers=False)
    host.start()
    base = host.base_url.rstrip("/")
    try:
        console.rule("amlite: the starter pipeline as an HTTP endpoint")
        driver = runpy.run_path(str(ROOT / "examples" / "starter" / "driver.py"), run_name="__amlite__")
        published = driver["pipeline"].publish(name="starter", description="preprocess -> train",
                                               version="1.0")
        endpoint = published.endpoint.replace("http://127.0.0.1:7071", base)
        console.print(f"published pipeline {published.id}\nendpoint: [bold]{endpoint}[/]")

        # What a CI job, a Data Factory web activity or a webhook does (auth mode none locally;
        # in Azure, headers=auth.get_authentication_header()).
        response = requests.post(endpoint, headers={},
                                 json={"ExperimentName": "starter", "ParameterAssignments": {"alpha": 0.1}},
                                 timeout=30)
        response.raise_for_status()
        run_id = response.json()["Id"]
        console.print(f"POST {response.status_code}: run [bold]{run_id}[/] ({response.headers.get('Location')})")
        run = follow(base, run_id)
        return summarise(run)
    finally:
        host.stop()
        azurite.stop()


def summarise(run: dict) -> int:
    table = Table(title=f"run {run['Id']}")
    for column in ("step", "status", "reused"):
        table.add_column(column, no_wrap=True)
    table.add_column("outputs", overflow="fold")
    for step in run["Steps"]:
        outputs = ", ".join(f"{n} -> {o['DataStoreName']}/{o['RelativePath']}" for n, o in step["Outputs"].items())
        table.add_row(step["Name"], step["Status"]["StatusCode"], "yes" if step.get("IsReused") else "no", outputs)
    console.print(table)
    status = run["Status"]["StatusCode"]
    if status != "Finished":
        console.print(f"[red]run {run['Id']} ended {status}: {run['Status'].get('StatusDetail')}[/]")
        return 1
    from pipeline_core.engine.services import services_for

    train = next(s for s in run["Steps"] if s["Name"] == "train")
    model = train["Outputs"]["model"]
    reference = PortDataReference(services_for(os.environ["AMLITE_STORAGE"]), "model", model["DataStoreName"],
                                  model["RelativePath"])
    folder = Path(reference.download(tempfile.mkdtemp(prefix="starter-model-"), show_progress=False))
    metrics = json.loads((folder / "metrics.json").read_text())
    console.print(f"parameters: {run['ParameterAssignments']}")
    console.print(f"model: [bold]{model['DataStoreName']}/{model['RelativePath']}/model.pkl[/] "
                  f"(r2={metrics['r2']:.3f}, rmse={metrics['rmse']:.1f})")
    console.print(f"[green]Finished[/]: `amlite show {run['Id']}` for steps and reuse decisions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
