"""Shared by test_publish.py and test_service.py: a small parameterised pipeline and service call helpers."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pipeline_core import (
    DataPath,
    DataPathComputeBinding,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.engine.services import Services
from pipeline_core.rest.api import ServiceRequest, ServiceResponse, handle, route_for
from pipeline_core.storage.run_store import TERMINAL

ECHO = """
import argparse, pathlib, time
p = argparse.ArgumentParser()
p.add_argument("--greeting"); p.add_argument("--count", type=int); p.add_argument("--data")
p.add_argument("--sleep", type=float); p.add_argument("--out")
a = p.parse_args()
time.sleep(a.sleep)
data = pathlib.Path(a.data)
text = (data if data.is_file() else next(data.iterdir())).read_text().strip()
line = " ".join([a.greeting] * a.count) + " | " + text
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.out, "result.txt").write_text(line)
print("RESULT:", line)
"""


def upload_text(ws: Workspace, tmp: Path, text: str) -> str:
    """Upload one small file to the default datastore; returns its prefix."""
    folder = tmp / f"data-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    (folder / "input.txt").write_text(text)
    prefix = f"publish-tests/{folder.name}"
    ws.get_default_datastore().upload(str(folder), target_path=prefix, show_progress=False)
    return prefix


def echo_pipeline(ws: Workspace, src: Path, data_prefix: str, greeting: str = "hello") -> Pipeline:
    """One step: greeting (str) x count (int), plus the text of the DataPath parameter ``data``."""
    (src / "echo.py").write_text(ECHO)
    data = PipelineParameter("data", DataPath(datastore=ws.get_default_datastore(), path_on_datastore=data_prefix))
    data_in = (data, DataPathComputeBinding(mode="mount"))
    out = PipelineData("result", datastore=ws.get_default_datastore())
    step = PythonScriptStep(
        "echo.py", name="echo", source_directory=str(src), inputs=[data_in], outputs=[out],
        arguments=["--greeting", PipelineParameter("greeting", greeting), "--count", PipelineParameter("count", 1),
                   "--data", data_in, "--sleep", PipelineParameter("sleep", 0.0), "--out", out])
    return Pipeline(ws, [step])


def wait_terminal(services: Services, run_id: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = services.runs.get_run(run_id).get("status")
        if status in TERMINAL:
            return str(status)
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end within {timeout} s")


def call(services: Services, operation: str, route: dict[str, str] | None = None, body: Any = None,
         headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> ServiceResponse:
    """Call an operation of the route table as the HTTP layer will: plain values in, plain values out."""
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()
    request = ServiceRequest(route_params=route or {}, query=query or {}, headers=headers or {}, body=raw,
                             base_url="https://amlite.example.net")
    return handle(services, route_for(operation), request)


def error_of(response: ServiceResponse) -> dict[str, Any]:
    assert 400 <= response.status < 500, (response.status, response.body)
    error: dict[str, Any] = response.body["error"]
    assert set(error) == {"code", "message", "details"}
    return error
