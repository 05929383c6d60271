"""``RunDetails(run).show()`` (AML's azureml.widgets): a text summary outside notebooks, and in a notebook an
HTML display that follows the run; the HTML is checked in the browser, the following on a live run."""

from __future__ import annotations

import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from web_support import publish_gated, shoot, submit, wait_status, wait_step

from pipeline_core import Experiment, PipelineRun, PublishedPipeline, Workspace
from pipeline_core.widgets import RunDetails

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gated(ws: Workspace) -> PublishedPipeline:
    return publish_gated(ws, name=f"widget-{uuid.uuid4().hex[:6]}")


def test_show_prints_a_text_summary_outside_notebooks(base: str, ws: Workspace, gated: PublishedPipeline,
                                                       experiment: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = submit(base, gated, experiment, alpha=-1.0)
    assert wait_status(base, run_id) == "Failed"
    RunDetails(PipelineRun(Experiment(ws, experiment), run_id)).show()
    out = capsys.readouterr().out
    assert f"run {run_id}  experiment {experiment}  status Failed" in out
    assert "error: ValueError: alpha must be positive, got -1.0" in out
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "Finished" in lines["prepare"] and "ran: allow_reuse=False" in lines["prepare"]
    assert "Failed" in lines["train"] and "Canceled" in lines["report"]


def test_the_notebook_display_follows_a_live_run(page: Any, base: str, ws: Workspace, gated: PublishedPipeline,
                                                 experiment: str) -> None:
    gate = Path(tempfile.mkdtemp(prefix="amlite-web-gate-")) / "open"
    run_id = submit(base, gated, experiment, gate=str(gate))
    wait_step(base, run_id, "prepare", "Running")
    details = RunDetails(PipelineRun(Experiment(ws, experiment), run_id))
    shown: list[str] = []
    result: list[str] = []
    follower = threading.Thread(target=lambda: result.append(details.follow(shown.append, poll_seconds=0.1)))
    follower.start()
    try:
        while not shown:
            follower.join(0.05)
        gate.write_text("go")
    finally:
        follower.join(60)
    assert result == ["Finished"]
    assert 'data-step="prepare"' in shown[0] and "node st-Running" in shown[0]
    assert len(shown) >= 2 and "node st-Running" not in shown[-1]
    page.set_content(f"<!doctype html><html><body style='margin:16px'>{shown[-1]}</body></html>")
    expect(page.locator(".amlite-widget .node")).to_have_count(3)
    expect(page.locator('.amlite-widget .node[data-step="train"]')).to_have_class("node st-Finished")
    expect(page.locator(".amlite-widget .edge.after")).to_have_count(1)  # report runs after train
    expect(page.locator(".amlite-widget .head")).to_contain_text("Finished")
    shoot(page, "notebook-widget")
