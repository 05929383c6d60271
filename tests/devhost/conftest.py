"""Fixtures for the dev host tests: the sample app, an in-process engine, a live DevHost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from amlite_devhost.app_loader import LoadedApp, load_app
from amlite_devhost.durable import DurableEngine
from amlite_devhost.server import DevHost

SAMPLE_APP = Path(__file__).parent / "sample_app"


@pytest.fixture(scope="session")
def sample_app() -> LoadedApp:
    # A private module name: other test suites import the repo's own function_app.
    return load_app(SAMPLE_APP, import_name="amlite_devhost_sample_function_app")


@pytest.fixture(scope="module")
def engine(sample_app: LoadedApp) -> Iterator[DurableEngine]:
    eng = DurableEngine.from_app(sample_app, max_workers=4)
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def devhost(sample_app: LoadedApp) -> Iterator[DevHost]:
    host = DevHost(SAMPLE_APP, port=0, app=sample_app).start()
    yield host
    host.stop()
