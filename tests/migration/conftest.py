"""Fixtures for the migration tests: the AML v1 sample patterns, after the import rewrite alone.

Each test in this folder reproduces one pattern of Microsoft's public AML v1 pipeline samples
(written here from scratch, never copied). A pattern amlite supports passes; one that needs an
API amlite lacks is ``xfail(strict=True)`` so it fails the suite the day the API lands and must
then be un-marked. docs/migration.md has the measured table these tests follow.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from amlite_devhost.server import DevHost
from pipeline_core import Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unique() -> str:
    """A fresh name part, so tests sharing the session's Azurite never see each other's blobs or rows."""
    return uuid.uuid4().hex[:10]


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return previous


def _restore_env(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def app_host(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app on a free loopback port (AMLITE_AUTH=none), for the samples' REST cells."""
    previous = _set_env({"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none"})
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, enable_blob_triggers=False, load_settings=False)
    try:
        host.start()
        yield host
    finally:
        host.stop()
        _restore_env(previous)


@pytest.fixture
def remote_workspace(azurite: str, app_host: DevHost) -> Workspace:
    """A workspace whose config.json names the app: what a deployed user of the REST samples has."""
    return Workspace(storage=azurite, endpoint=app_host.base_url)
