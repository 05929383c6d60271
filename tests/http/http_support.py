"""Helpers for the HTTP tests and the bench: small published pipelines, polling, the error shape."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from pipeline_core import (
    Pipeline,
    PipelineData,
    PipelineParameter,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)

TERMINAL = ("Finished", "Failed", "Canceled")
LOCAL_ENDPOINT = "http://127.0.0.1:7071"

#: Writes its ``--arg`` to the output folder and to the log; sleeps ``--sleep`` seconds first.
ECHO_ARG = """
import argparse, pathlib, time
p = argparse.ArgumentParser()
p.add_argument("--arg"); p.add_argument("--sleep", type=float, default=0); p.add_argument("--out")
a = p.parse_args()
time.sleep(a.sleep)
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.out, "arg.txt").write_text(a.arg)
print("PIPELINE_ARG:", a.arg)
"""


# -- pipelines ------------------------------------------------------------------------------
def publish_echo(ws: Workspace, name: str | None = None, default: int = 10) -> PublishedPipeline:
    """One step writing the parameter ``pipeline_arg`` (default ``default``) to its output ``result``."""
    src = Path(tempfile.mkdtemp(prefix="amlite-http-src-"))
    (src / "echo_arg.py").write_text(ECHO_ARG)
    out = PipelineData("result", datastore=ws.get_default_datastore())
    step = PythonScriptStep("echo_arg.py", name="echo", source_directory=str(src), outputs=[out], allow_reuse=False,
                            arguments=["--arg", PipelineParameter("pipeline_arg", default),
                                       "--sleep", PipelineParameter("sleep", 0.0), "--out", out])
    return Pipeline(ws, [step]).publish(name=name or f"http-echo-{uuid.uuid4().hex[:8]}", version="1")


def publish_noop(ws: Workspace, name: str | None = None) -> PublishedPipeline:
    """The cheapest real pipeline: one script step that does nothing."""
    src = Path(tempfile.mkdtemp(prefix="amlite-http-noop-"))
    (src / "noop.py").write_text("pass\n")
    step = PythonScriptStep("noop.py", name="noop", source_directory=str(src), allow_reuse=False)
    return Pipeline(ws, [step]).publish(name=name or f"http-noop-{uuid.uuid4().hex[:8]}")


# -- HTTP helpers ---------------------------------------------------------------------------
def on_host(url: str, base: str) -> str:
    """``PublishedPipeline.endpoint`` names the default local host; point it at the test host."""
    assert url.startswith(LOCAL_ENDPOINT + "/"), url
    return base + url[len(LOCAL_ENDPOINT):]


def get_run(base: str, run_id: str, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    answer = requests.get(f"{base}/api/runs/{run_id}", params=params, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def wait_status(base: str, run_id: str, timeout: float = 60.0, statuses: tuple[str, ...] = TERMINAL,
                headers: dict[str, str] | None = None) -> str:
    """Poll ``GET /api/runs/{id}`` until ``Status.StatusCode`` is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        status = str(get_run(base, run_id, headers)["Status"]["StatusCode"])
        if status in statuses:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is still {status} after {timeout} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def error_of(answer: requests.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    """The house error shape of a 4xx answer, checked."""
    wanted = status if isinstance(status, tuple) else (status,)
    assert answer.status_code in wanted, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "details"} and isinstance(error["details"], list)
    assert error["code"] and error["message"]
    return error
