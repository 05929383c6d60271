"""Where the SDK classes' calls go: one :class:`WorkspaceBackend` per workspace, local or remote.

- ``port``: the :class:`WorkspaceBackend` and :class:`RunSource` interfaces and the records they answer.
- ``local``: :class:`~pipeline_core.backend.local.LocalBackend`, storage + the application use cases.
- ``remote``: :class:`~pipeline_core.backend.remote.RemoteBackend`, the REST client (``pipeline_core.client``).

Layers, top down: SDK classes -> this backend -> use cases / REST client ->
engine -> storage. Nothing here imports the SDK classes; they import this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline_core.backend.port import (
    EndpointView,
    RunSource,
    ScheduleEntity,
    SubmitKeywords,
    WorkspaceBackend,
)

__all__ = ["EndpointView", "RunSource", "ScheduleEntity", "SubmitKeywords", "WorkspaceBackend", "open_backend"]


def open_backend(endpoint: str | None, storage: str, auth: Callable[[], Any],
                 workspace: tuple[str, str, str] = ("local", "local", "local")) -> WorkspaceBackend:
    """The backend for a workspace: remote when it names a Functions app ``endpoint``, else local.

    The one place that asks. Each implementation is imported only when chosen,
    so a local workspace never loads the HTTP client and a remote one never
    loads the engine's launcher (``tests/unit/test_backend_choice.py`` checks both).
    """
    if endpoint:
        from pipeline_core.backend.remote import RemoteBackend

        return RemoteBackend(endpoint, storage, auth, workspace)
    from pipeline_core.backend.local import LocalBackend

    return LocalBackend(storage, workspace)
