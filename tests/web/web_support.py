"""Pipelines and helpers for the browser tests: small real pipelines whose steps the test can hold and release."""

from __future__ import annotations

import os
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
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# The README shows the set in docs/screenshots; a test run refreshes it only when asked
# (AMLITE_SCREENSHOTS=docs/screenshots), so an ordinary run leaves the work tree clean.
SCREENSHOTS = Path(os.environ.get("AMLITE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "amlite-screenshots")

#: Waits (at most 60 s) until the file named by --gate exists, then writes its output.
PREPARE = """
import argparse, pathlib, time
p = argparse.ArgumentParser(); p.add_argument("--gate"); p.add_argument("--out")
a = p.parse_args()
print("preparing: waiting for", a.gate, flush=True)
deadline = time.time() + 60
while a.gate != "none" and not pathlib.Path(a.gate).exists() and time.time() < deadline:
    time.sleep(0.05)
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.out, "rows.csv").write_text("x,y\\n1,2\\n3,4\\n")
print("prepared 2 rows", flush=True)
"""
TRAIN = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--data"); p.add_argument("--alpha", type=float); p.add_argument("--model")
a = p.parse_args()
rows = pathlib.Path(a.data, "rows.csv").read_text().splitlines()[1:]
print(f"training on {len(rows)} rows with alpha={a.alpha}", flush=True)
if a.alpha < 0:
    raise ValueError(f"alpha must be positive, got {a.alpha}")
pathlib.Path(a.model).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.model, "model.txt").write_text(f"alpha={a.alpha}\\n")
"""
REPORT = 'print("report written")\n'


def publish_gated(ws: Workspace, name: str | None = None) -> PublishedPipeline:
    """prepare -(data)-> train -(run_after)-> report; ``gate`` holds prepare, ``alpha`` < 0 fails train."""
    src = Path(tempfile.mkdtemp(prefix="amlite-web-src-"))
    (src / "prepare.py").write_text(PREPARE)
    (src / "train.py").write_text(TRAIN)
    (src / "report.py").write_text(REPORT)
    data = PipelineData("prepared", datastore=ws.get_default_datastore())
    model = PipelineData("model", datastore=ws.get_default_datastore())
    prepare = PythonScriptStep("prepare.py", name="prepare", source_directory=str(src), outputs=[data],
                               arguments=["--gate", PipelineParameter("gate", "none"), "--out", data], allow_reuse=False)
    train = PythonScriptStep("train.py", name="train", source_directory=str(src), inputs=[data], outputs=[model],
                             arguments=["--data", data, "--alpha", PipelineParameter("alpha", 0.5), "--model", model],
                             allow_reuse=False)
    report = PythonScriptStep("report.py", name="report", source_directory=str(src), allow_reuse=False)
    report.run_after(train)
    return Pipeline(ws, [prepare, train, report]).publish(name=name or f"web-{uuid.uuid4().hex[:6]}", version="1",
                                                          description="prepare, train, report")


def submit(base: str, pipeline: PublishedPipeline, experiment: str, **parameters: Any) -> str:
    answer = requests.post(f"{base}/api/pipelines/{pipeline.id}/runs", timeout=10,
                           json={"ExperimentName": experiment, "ParameterAssignments": parameters})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["Id"])


def status(base: str, run_id: str, headers: dict[str, str] | None = None) -> str:
    answer = requests.get(f"{base}/api/runs/{run_id}", timeout=10, headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["Status"]["StatusCode"])


def wait_status(base: str, run_id: str, wanted: tuple[str, ...] = TERMINAL, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = status(base, run_id)
        if found in wanted:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is still {found} after {timeout} s")
        time.sleep(0.1)


def step_status(base: str, run_id: str, step: str) -> str:
    answer = requests.get(f"{base}/api/runs/{run_id}/view", timeout=10)
    return next(s["Status"] for s in answer.json()["Steps"] if s["Name"] == step)


def wait_step(base: str, run_id: str, step: str, wanted: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while step_status(base, run_id, step) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"step {step} of run {run_id} never became {wanted}")
        time.sleep(0.05)


def shoot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot of the page (under ``AMLITE_SCREENSHOTS``; docs/screenshots holds the README's set)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
