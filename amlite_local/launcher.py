"""The in-process run launcher: ``pipeline_core.engine.launch.RunLauncher`` over this process's local engine.

Found by ``pipeline_core`` through the ``amlite.launchers`` entry point named
``local`` (``pyproject.toml``), never imported by it: the factory is the class,
called with the workspace's storage account.
"""

from __future__ import annotations

from . import engine


class LocalLauncher:
    """Starts runs on the app's own orchestrator in this process (one engine per storage account)."""

    def __init__(self, storage: str) -> None:
        self.storage = storage

    def start(self, run_id: str) -> None:
        engine.start_local_run(self.storage, run_id)

    def cancel(self, run_id: str) -> bool:
        return engine.cancel_local_run(run_id)

    def exists(self, run_id: str) -> bool:
        return engine.local_status(run_id) is not None

    def __repr__(self) -> str:
        return f"LocalLauncher({self.storage[:40]!r})"
