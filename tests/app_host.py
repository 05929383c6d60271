"""The repo's Functions app served in process for a test scope: one copy of the start/stop and env dance.

Used by the HTTP, web and migration suites; each wraps it in a fixture of the scope it needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from amlite_local.host import DevHost

REPO_ROOT = Path(__file__).resolve().parents[1]


def set_env(values: dict[str, str]) -> dict[str, str | None]:
    """Set ``values``; returns what to hand :func:`restore_env` (fixtures outlive ``monkeypatch``'s scope)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def serve_repo_app(azurite: str) -> Iterator[DevHost]:
    """The app on a free loopback port with AMLITE_AUTH=none, storage = the session's Azurite.

    No timers or blob-trigger polling: schedules are not under test there, and they add background load.
    """
    # AzureWebJobsStorage: the host's own storage, as every Functions app has.
    previous = set_env({"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none"})
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, enable_blob_triggers=False, load_settings=False)
    try:
        host.start()
        yield host
    finally:
        host.stop()
        restore_env(previous)
