"""The web run view in a real browser, as a person uses it: runs list, a live run, a failed step's log, an output
download, submitting from a published pipeline's form, cancelling, and the phone layout."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from web_support import PHONE, publish_gated, shoot, submit, wait_status, wait_step

from pipeline_core import PublishedPipeline, Workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gated(ws: Workspace) -> PublishedPipeline:
    return publish_gated(ws, name=f"train-{uuid.uuid4().hex[:6]}")


def gate_file() -> Path:
    return Path(tempfile.mkdtemp(prefix="amlite-web-gate-")) / "open"


def node(page: Any, step: str) -> Any:
    return page.locator(f'#graph .node[data-step="{step}"]')


def test_runs_page_lists_runs_newest_first_and_filters(page: Any, base: str, gated: PublishedPipeline,
                                                      experiment: str) -> None:
    first = submit(base, gated, experiment)
    other = f"{experiment}-b"
    second = submit(base, gated, other, alpha=-1.0)
    wait_status(base, first), wait_status(base, second)
    page.goto(f"{base}/api/ui/runs")
    rows = page.locator("table.runs tbody tr")
    expect(rows.first).to_contain_text(other)  # newest first
    expect(page.locator("table.runs")).to_contain_text(experiment)
    page.select_option("select[name=experiment]", experiment)
    page.click("form.filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Finished")
    page.select_option("select[name=experiment]", "")
    page.select_option("select[name=status]", "Failed")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.runs")).to_contain_text(other)
    expect(page.locator("table.runs")).not_to_contain_text("Finished")
    page.goto(f"{base}/api/ui/runs")
    shoot(page, "runs")
    page.locator("table.runs tbody tr").first.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text(second)


def test_live_run_changes_status_without_reload(page: Any, base: str, gated: PublishedPipeline,
                                                experiment: str) -> None:
    gate = gate_file()
    run_id = submit(base, gated, experiment, gate=str(gate))
    wait_step(base, run_id, "prepare", "Running")
    page.goto(f"{base}/api/ui/runs/{run_id}")
    page.evaluate("window.__sameDocument = true")
    expect(node(page, "prepare")).to_have_class("node st-Running")
    expect(node(page, "train")).to_have_class("node st-NotStarted")
    expect(page.locator("#run-status")).to_have_text("Running")
    node(page, "prepare").click()
    expect(page.locator("#step-panel pre.log")).to_contain_text("preparing: waiting for")
    shoot(page, "run-live")
    gate.write_text("go")
    expect(node(page, "prepare")).to_have_class("node st-Finished selected", timeout=30_000)
    expect(page.locator("#step-panel pre.log")).to_contain_text("prepared 2 rows")  # followed while it ran
    expect(node(page, "report")).to_have_class("node st-Finished", timeout=30_000)
    expect(page.locator("#run-status")).to_have_text("Finished")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    expect(page.locator(".steps [data-field=status]").first).to_have_text("Finished")


def test_failed_step_log_shows_its_error_line(page: Any, base: str, gated: PublishedPipeline,
                                              experiment: str) -> None:
    run_id = submit(base, gated, experiment, alpha=-2.0)
    assert wait_status(base, run_id) == "Failed"
    page.goto(f"{base}/api/ui/runs/{run_id}")
    expect(node(page, "train")).to_have_class("node st-Failed")
    expect(node(page, "report")).to_have_class("node st-Canceled")  # skipped: its upstream failed
    expect(page.locator("#run-error")).to_be_visible()
    # keyboard: Tab into the graph, arrows to the failed step, Enter opens it
    node(page, "prepare").focus()
    page.keyboard.press("ArrowRight")
    expect(node(page, "train")).to_be_focused()
    page.keyboard.press("Enter")
    panel = page.locator("#step-panel")
    expect(panel.locator("h2")).to_have_text("train")
    expect(panel.locator(".error-line")).to_contain_text("ValueError: alpha must be positive, got -2.0")
    expect(panel.locator("pre.log")).to_contain_text("Traceback (most recent call last)")
    expect(panel).to_contain_text("ran: allow_reuse=False")  # the reuse decision, as `amlite show` says it
    panel.get_by_role("tab", name="stderr.txt").click()
    expect(panel.locator("pre.log")).to_contain_text("ValueError: alpha must be positive")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "run-failed-step")


def test_output_downloads_from_the_step_panel(page: Any, base: str, gated: PublishedPipeline,
                                              experiment: str) -> None:
    run_id = submit(base, gated, experiment, alpha=0.25)
    assert wait_status(base, run_id) == "Finished"
    page.goto(f"{base}/api/ui/runs/{run_id}#step=train")
    link = page.locator("#step-panel ul.files a", has_text="model.txt")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "model.txt"
    assert Path(download.path()).read_text() == "alpha=0.25\n"


def test_submit_from_the_published_pipeline_form_opens_the_new_run(page: Any, base: str, gated: PublishedPipeline,
                                                                   experiment: str) -> None:
    page.goto(f"{base}/api/ui/pipelines")
    page.get_by_role("link", name=gated.name).first.click()
    expect(page.locator("#rest-url")).to_contain_text(f"/api/pipelines/{gated.id}/runs")
    expect(page.locator("#snippet-python")).to_contain_text("requests.post(rest_endpoint")
    shoot(page, "pipeline", full_page=True)
    form = page.locator("form.submit-form")
    form.locator("input[name=experiment]").fill(experiment)
    form.locator('input[name="param:alpha"]').fill("0.75")
    form.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/api/ui/runs/*")
    run_id = page.url.rsplit("/", 1)[-1].split("#")[0]
    expect(page.locator(".facts")).to_contain_text("alpha=0.75")
    expect(page.locator(".facts")).to_contain_text("Web")  # the trigger
    assert wait_status(base, run_id) == "Finished"
    expect(page.locator("#run-status")).to_have_text("Finished", timeout=20_000)
    bad = page.goto(f"{base}/api/ui/pipelines/{gated.id}")
    assert bad is not None and bad.ok
    form = page.locator("form.submit-form")
    form.locator('input[name="param:alpha"]').fill("not a number")
    form.get_by_role("button", name="Submit").click()
    expect(form.locator(".form-error")).to_contain_text("alpha")


def test_cancel_a_running_run_from_its_page(page: Any, base: str, gated: PublishedPipeline, experiment: str) -> None:
    gate = gate_file()  # never opened: prepare waits until cancelled
    run_id = submit(base, gated, experiment, gate=str(gate))
    wait_step(base, run_id, "prepare", "Running")
    page.goto(f"{base}/api/ui/runs/{run_id}")
    page.get_by_role("button", name="Cancel run").click()
    dialog = page.locator("#cancel-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("Canceled", timeout=30_000)
    expect(node(page, "prepare")).to_have_class("node st-Canceled")
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    assert wait_status(base, run_id) == "Canceled"


def test_resubmit_with_an_edited_parameter(page: Any, base: str, gated: PublishedPipeline, experiment: str) -> None:
    run_id = submit(base, gated, experiment, alpha=-1.0)
    assert wait_status(base, run_id) == "Failed"
    page.goto(f"{base}/api/ui/runs/{run_id}")
    page.get_by_role("button", name="Resubmit").click()
    dialog = page.locator("#resubmit-dialog")
    dialog.locator('input[name="param:alpha"]').fill("1.5")
    dialog.get_by_role("button", name="Submit run").click()
    page.wait_for_url(lambda url: run_id not in url)
    new_id = page.url.rsplit("/", 1)[-1]
    assert wait_status(base, new_id) == "Finished"
    answer = requests.get(f"{base}/api/runs/{new_id}", timeout=10).json()
    assert answer["ParameterAssignments"]["alpha"] == 1.5 and answer["ExperimentName"] == experiment
    assert f"resubmitted from run {run_id}" in answer["Notes"]


def test_pages_fit_a_phone(browser: Any, base: str, gated: PublishedPipeline, experiment: str) -> None:
    run_id = submit(base, gated, experiment)
    wait_status(base, run_id)
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{base}/api/ui/runs/{run_id}#step=train")
        expect(page.locator("#step-panel h2")).to_have_text("train")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
        shoot(page, "run-phone")
        page.goto(f"{base}/api/ui/runs")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_unknown_run_is_a_readable_404(page: Any, base: str) -> None:
    answer = page.goto(f"{base}/api/ui/runs/no-such-run")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_contain_text("404")
    expect(page.locator(".error-box")).to_contain_text("no-such-run")
    api = requests.get(f"{base}/api/ui/runs/no-such-run", timeout=10)
    assert api.status_code == 404 and api.json()["error"]["code"] == "NotFound"


def test_schedules_show_their_trigger_next_fire_times_and_decisions(page: Any, base: str, gated: PublishedPipeline,
                                                                   experiment: str) -> None:
    nightly = requests.post(f"{base}/api/schedules", timeout=10, json={
        "Name": f"nightly-{experiment}", "PipelineId": gated.id, "ExperimentName": experiment,
        "Description": "retrain every night at 02:30 Amsterdam time",
        "Recurrence": {"Frequency": "Day", "Interval": 1, "Hours": [2], "Minutes": [30],
                       "TimeZone": "W. Europe Standard Time"}})  # no StartTime: the first run starts now
    assert nightly.status_code == 201, nightly.text
    watched = requests.post(f"{base}/api/schedules", timeout=10, json={
        "Name": f"on-new-data-{experiment}", "PipelineId": gated.id, "ExperimentName": experiment,
        "DataStoreName": "workspaceblobstore", "PathOnDataStore": "incoming/", "PollingInterval": 5})
    assert watched.status_code == 201, watched.text
    schedule_id = nightly.json()["Id"]
    page.goto(f"{base}/api/ui/schedules")
    row = page.locator("table.data tr", has_text=f"nightly-{experiment}")
    expect(row).to_contain_text("frequency='Day'")
    expect(page.locator("table.data tr", has_text=f"on-new-data-{experiment}")).to_contain_text(
        "workspaceblobstore/incoming/")
    shoot(page, "schedules")
    row.get_by_role("link", name=f"nightly-{experiment}").click()
    expect(page.locator("h1")).to_contain_text(f"nightly-{experiment}")
    fire_times = page.locator("table.data", has_text="W. Europe Standard Time").locator("tbody tr")
    expect(fire_times).to_have_count(10)
    expect(fire_times.first).to_contain_text("02:30:00+0")  # local time in the schedule's zone
    history = page.locator("table.data", has_text="Decision")
    expect(history).to_contain_text("fired")
    started = requests.get(f"{base}/api/schedules/{schedule_id}/runs/last", timeout=10).json()["Id"]
    expect(history.locator("tbody tr").first.get_by_role("link")).to_have_attribute("href", f"/api/ui/runs/{started}")
    wait_status(base, started)
    shoot(page, "schedule", full_page=True)
    for created in (nightly.json(), watched.json()):
        requests.post(f"{base}/api/schedules/{created['Id']}/disable", timeout=10)
