"""The pages under the API's auth modes: ``entra`` refuses a page without a token and keeps Read holders from
cancelling; ``key`` keeps the browser's ``?code=`` on every link and call."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from app_host import restore_env, set_env
from jwks_support import READ, SUBMIT, JwksServer, entra_env, jwk, mint, new_key
from playwright.sync_api import expect
from web_support import DESKTOP, publish_gated

from pipeline_core import PublishedPipeline, Workspace
from pipeline_core.auth import reset_shared_caches

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gated(ws: Workspace) -> PublishedPipeline:
    return publish_gated(ws, name=f"auth-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def entra(base: str) -> Iterator[Any]:
    """The running host switched to AMLITE_AUTH=entra against a loopback JWKS, for one test."""
    key = new_key()
    server = JwksServer([jwk(key, "k1")])
    previous = set_env(entra_env(server.url))
    reset_shared_caches()
    try:
        yield key
    finally:
        restore_env(previous)
        reset_shared_caches()
        server.close()


def bearer(key: Any, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(key, roles=[role])}"}


def test_entra_refuses_pages_without_a_token_and_read_cannot_cancel(browser: Any, base: str, entra: Any,
                                                                   gated: PublishedPipeline) -> None:
    anonymous = requests.get(f"{base}/api/ui/runs", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "MissingToken"
    assert "WWW-Authenticate" in anonymous.headers
    gate = Path(tempfile.mkdtemp(prefix="amlite-web-gate-")) / "open"
    answer = requests.post(f"{base}/api/pipelines/{gated.id}/runs", headers=bearer(entra, SUBMIT), timeout=10,
                           json={"ExperimentName": f"auth-{uuid.uuid4().hex[:6]}",
                                 "ParameterAssignments": {"gate": str(gate)}})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["Id"]
    reader = browser.new_context(viewport=DESKTOP)
    try:
        page = reader.new_page()
        refused = page.goto(f"{base}/api/ui/runs/{run_id}")
        assert refused is not None and refused.status == 401
        expect(page.locator("h1")).to_contain_text("401")
        reader.set_extra_http_headers(bearer(entra, READ))
        page.goto(f"{base}/api/ui/runs/{run_id}")
        expect(page.locator("#run-status")).to_be_visible()
        expect(page.locator("header .who")).to_contain_text("read only")
        expect(page.locator("#readonly-note")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
        expect(page.get_by_role("button", name="Resubmit")).to_have_count(0)
        status = page.evaluate("""async (url) => (await fetch(url, {method: "POST"})).status""",
                               f"/api/runs/{run_id}/cancel")
        assert status == 403, "a Read token cancelled a run"
        forbidden = requests.post(f"{base}/api/runs/{run_id}/cancel", headers=bearer(entra, READ), timeout=10)
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "MissingRole"
        assert requests.get(f"{base}/api/runs/{run_id}", headers=bearer(entra, READ), timeout=10).json()[
            "Status"]["StatusCode"] in ("Queued", "Running")
    finally:
        reader.close()
    submitter = browser.new_context(viewport=DESKTOP, extra_http_headers=bearer(entra, SUBMIT))
    try:
        page = submitter.new_page()
        page.goto(f"{base}/api/ui/runs/{run_id}")
        page.get_by_role("button", name="Cancel run").click()
        page.locator("#cancel-dialog").get_by_role("button", name="Cancel run").click()
        expect(page.locator("#run-status")).to_have_text("Canceled", timeout=30_000)
    finally:
        submitter.close()


def test_key_mode_keeps_the_code_on_links_and_calls(page: Any, base: str, gated: PublishedPipeline) -> None:
    previous = set_env({"AMLITE_AUTH": "key", "AMLITE_FUNCTION_KEYS": "web-test-key"})
    try:
        run_id = submit_with_key(base, gated)
        assert requests.get(f"{base}/api/ui/runs", timeout=10).status_code == 401
        page.goto(f"{base}/api/ui?code=web-test-key")
        assert page.url.endswith("/api/ui/runs?code=web-test-key")
        page.locator(f'table.runs a[href*="{run_id}"]').click()
        expect(page.locator("#run-status")).to_have_text("Finished", timeout=30_000)  # polled with the code
        page.locator('#graph .node[data-step="train"]').click()
        expect(page.locator("#step-panel pre.log")).to_contain_text("training on 2 rows")
        expect(page.locator("#step-panel ul.files a", has_text="model.txt")).to_have_attribute(
            "href", f"/api/ui/runs/{run_id}/steps/train/outputs/model/download?path=model.txt&code=web-test-key")
    finally:
        restore_env(previous)


def submit_with_key(base: str, pipeline: PublishedPipeline) -> str:
    answer = requests.post(f"{base}/api/pipelines/{pipeline.id}/runs", headers={"x-functions-key": "web-test-key"},
                           json={"ExperimentName": f"key-{uuid.uuid4().hex[:6]}"}, timeout=10)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["Id"])


def test_the_pages_answer_nothing_to_a_wrong_key(base: str) -> None:
    previous = set_env({"AMLITE_AUTH": "key", "AMLITE_FUNCTION_KEYS": "web-test-key"})
    try:
        answer = requests.get(f"{base}/api/ui/runs", params={"code": "guess"}, timeout=10)
        assert answer.status_code == 401 and "web-test-key" not in answer.text
        static = requests.get(f"{base}/api/ui/static/app.css", timeout=10)  # no data in it: public
        assert static.status_code == 200 and static.headers["Content-Type"].startswith("text/css")
    finally:
        restore_env(previous)

