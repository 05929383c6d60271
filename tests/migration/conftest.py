"""Fixtures for the migration tests: the AML v1 sample patterns, after the import rewrite alone.

Each test in this folder reproduces one pattern of Microsoft's public AML v1 pipeline samples
(written here from scratch, never copied). A pattern amlite supports passes; one that needs an
API amlite lacks is ``xfail(strict=True)`` so it fails the suite the day the API lands and must
then be un-marked. docs/migration.md has the measured table these tests follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from app_host import serve_repo_app

from amlite_local.host import DevHost
from pipeline_core import Workspace


@pytest.fixture
def unique() -> str:
    """A fresh name part, so tests sharing the session's Azurite never see each other's blobs or rows."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def app_host(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app on a free loopback port (AMLITE_AUTH=none), for the samples' REST cells."""
    with serve_repo_app(azurite) as host:
        yield host


@pytest.fixture
def remote_workspace(azurite: str, app_host: DevHost) -> Workspace:
    """A workspace whose config.json names the app: what a deployed user of the REST samples has."""
    return Workspace(storage=azurite, endpoint=app_host.base_url)
