"""A 200-step run with a 10,000-mini-batch ParallelRunStep: the page draws it, stays responsive, follows status
changes in place, and pages through the failed mini-batches instead of rendering them all."""

from __future__ import annotations

from typing import Any

import pytest
from big_run import PRS_STEP, create_big_run, fill_minibatches, set_statuses
from playwright.sync_api import expect
from web_support import shoot

from pipeline_core import Workspace

pytestmark = pytest.mark.integration

#: Records every main-thread task over 50 ms (Chromium's "long tasks") from the start of the page.
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); })
  .observe({type: "longtask", buffered: true});
"""


def test_a_200_step_run_with_10000_minibatches_renders_and_stays_live(page: Any, base: str, ws: Workspace) -> None:
    run_id, names = create_big_run(ws)
    failed = fill_minibatches(ws, run_id, PRS_STEP)
    set_statuses(ws, run_id, {name: "Finished" for name in names[:10]})
    page.add_init_script(LONG_TASKS)
    page.goto(f"{base}/api/ui/runs/{run_id}")
    expect(page.locator("#graph .node")).to_have_count(200)
    expect(page.locator(f'#graph .node[data-step="{names[0]}"]')).to_have_class("node st-Finished")
    # live: a change written while the page is open shows up without a reload
    set_statuses(ws, run_id, {name: "Finished" for name in names[11:40]} | {names[40]: "Running"})
    expect(page.locator(f'#graph .node[data-step="{names[40]}"]')).to_have_class("node st-Running", timeout=10_000)
    expect(page.locator("#step-counts")).to_contain_text("2 Running")  # that step and the ParallelRunStep
    # keyboard across the whole graph
    page.locator(f'#graph .node[data-step="{names[0]}"]').focus()
    page.keyboard.press("End")
    expect(page.locator('#graph .node[tabindex="0"]')).to_have_count(1)
    # the ParallelRunStep: 10,000 mini-batches drawn in one canvas, failures paged 50 at a time
    page.locator(f'#graph .node[data-step="{PRS_STEP}"]').click()
    panel = page.locator("#step-panel")
    expect(panel.locator("progress")).to_have_attribute("max", "10000")
    expect(panel.locator("canvas.batch-map")).to_have_attribute(
        "aria-label", f"mini-batch map: {10_000 - failed} succeeded, {failed} failed, 0 not done, of 10000")
    batches = panel.locator("ol.batch-list > li")
    expect(batches).to_have_count(50)
    expect(batches.first).to_contain_text("ValueError: row 25 has no 'amount' column")
    page.evaluate("window.scrollTo(0, document.querySelector('.run-grid').offsetTop - 8)")
    shoot(page, "run-200-steps")
    panel.get_by_role("button", name="Load more").click()
    expect(batches).to_have_count(100)
    longest = max(page.evaluate("window.__longTasks") or [0])
    assert longest < 1000, f"the main thread was blocked for {longest:.0f} ms"
