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

#: Azurite ports a parallel worker (pytest-xdist ``gwN``) moves its emulator by, per worker number.
WORKER_PORT_STEP = 100


def _own_azurite_ports(worker: str | None) -> None:
    """Give each pytest-xdist worker its own Azurite: ``gwN`` adds N x 100 to the configured ports.

    Why: the session's Azurite is reused when one answers on the ports, and stopped by the worker that
    started it; two workers on one emulator would lose it when the first ends. Worker ``gw0`` keeps the
    configured ports. Every process a test starts inherits the moved ports.
    """
    if not worker or not worker.startswith("gw") or not worker[2:].isdigit():
        return
    offset = WORKER_PORT_STEP * int(worker[2:])
    for name, default in (("AMLITE_AZURITE_BLOB_PORT", 10000), ("AMLITE_AZURITE_QUEUE_PORT", 10001),
                          ("AMLITE_AZURITE_TABLE_PORT", 10002)):
        os.environ[name] = str(int(os.environ.get(name) or default) + offset)


_own_azurite_ports(os.environ.get("PYTEST_XDIST_WORKER"))


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
