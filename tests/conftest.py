"""Shared fixtures: one Azurite per test session, a fresh local workspace, isolated caches."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_cache = tempfile.mkdtemp(prefix="amlite-test-cache-")
os.environ.setdefault("AMLITE_CACHE_DIR", _cache)
os.environ.setdefault("AMLITE_QUIET", "1")


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Reuse an Azurite answering on the configured ports, else start one on a temp dir for this session."""
    from pipeline_core.storage.azurite import ensure_azurite

    handle = ensure_azurite(temporary=True)
    try:
        yield handle.connection_string
    finally:
        handle.stop()


@pytest.fixture
def workspace(azurite: str):  # type: ignore[no-untyped-def]
    from pipeline_core import Workspace

    return Workspace(storage=azurite)


@pytest.fixture
def experiment_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder
