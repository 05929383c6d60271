"""Browser tests of the web run view: a real headless Chromium (Debian's ``chromium``) driven by Playwright,
against the repo's Functions app served by ``DevHost`` on a loopback port, on Azurite.

One browser per session, one dev host per module; each test opens its own browser context (fresh cookies).
``make setup`` installs Chromium (``/usr/bin/chromium``; ``AMLITE_CHROMIUM`` points elsewhere).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from app_host import serve_repo_app
from web_support import DESKTOP

from amlite_local.host import DevHost
from pipeline_core import Workspace

CHROMIUM = os.environ.get("AMLITE_CHROMIUM", "/usr/bin/chromium")
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: run `make setup` (it installs Debian's "
                    "chromium package) or set AMLITE_CHROMIUM to a Chromium binary")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def web_host(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app on a free loopback port (AMLITE_AUTH=none), for one test module."""
    with serve_repo_app(azurite) as host:
        yield host


@pytest.fixture(scope="module")
def base(web_host: DevHost) -> str:
    return web_host.base_url


@pytest.fixture(scope="module")
def ws(azurite: str) -> Workspace:
    return Workspace(storage=azurite)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh desktop-sized page (1280x800); closed after the test."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def experiment() -> str:
    return f"web-{uuid.uuid4().hex[:8]}"
