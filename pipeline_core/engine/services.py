"""What the engine needs from storage, bundled once per process and storage account."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from pipeline_core.errors import NotFoundError
from pipeline_core.execution.snapshot import SNAPSHOT_CONTAINER
from pipeline_core.spec import PipelineSpec
from pipeline_core.storage.account import StorageAccount, get_account
from pipeline_core.storage.reuse_store import ReuseStore
from pipeline_core.storage.run_store import RunStore

SPEC_PREFIX = "specs/"


def spec_blob_name(graph_id: str) -> str:
    return f"{SPEC_PREFIX}{graph_id}.json"


@dataclass
class Services:
    storage: str
    _specs: dict[str, PipelineSpec] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def account(self) -> StorageAccount:
        from pipeline_core.core.workspace import Workspace

        return Workspace(storage=self.storage).account

    @cached_property
    def runs(self) -> RunStore:
        return RunStore(self.account)

    @cached_property
    def reuse(self) -> ReuseStore:
        return ReuseStore(self.account)

    @cached_property
    def workspace(self):  # type: ignore[no-untyped-def]
        from pipeline_core.core.workspace import Workspace

        return Workspace(storage=self.storage)

    def container_for(self, datastore: str) -> ContainerClient:
        from pipeline_core.core.datastore import Datastore

        return Datastore.get(self.workspace, datastore)._container

    def load_spec(self, graph_id: str) -> PipelineSpec:
        """Specs are content-addressed, so one read per graph per process is enough."""
        spec = self._specs.get(graph_id)
        if spec is None:
            try:
                data = self.account.container(SNAPSHOT_CONTAINER).download_blob(spec_blob_name(graph_id)).readall()
            except ResourceNotFoundError:
                raise NotFoundError(f"pipeline spec {graph_id!r} is missing from the snapshots container") from None
            spec = PipelineSpec.from_json(data)
            with self._lock:
                self._specs[graph_id] = spec
        return spec

    def remember_spec(self, graph_id: str, payload: bytes) -> None:
        """Keep a spec this process has just stored (``payload``: its blob's bytes), so the run it submits
        reads it from here: the in-process engine's first activity would otherwise download it again."""
        spec = PipelineSpec.from_json(payload)
        with self._lock:
            self._specs.setdefault(graph_id, spec)


_bound_storage: contextvars.ContextVar[str | None] = contextvars.ContextVar("amlite_bound_storage", default=None)


@contextmanager
def storage_bound(storage: str) -> Iterator[None]:
    """Within this block (this thread or task), :func:`storage_from_environment` answers ``storage``.

    The in-process local engine (``amlite_local``) runs the Functions app's activities in the driver's
    process; they ask :func:`storage_from_environment` for their account as they do on Azure, and get the
    workspace's, without the engine changing ``os.environ`` (which step processes, other hosts in the
    process and the user's code see).
    """
    token = _bound_storage.set(storage)
    try:
        yield
    finally:
        _bound_storage.reset(token)


def storage_from_environment() -> str:
    """The run-state account for a Functions app: the one bound here (:func:`storage_bound`), else
    ``AMLITE_STORAGE``, else the host's own storage.

    Keyless (``AzureWebJobsStorage__accountName``, as the Flex Consumption
    quickstarts configure it) becomes an account URL used with DefaultAzureCredential.
    """
    import os

    bound = _bound_storage.get()
    if bound:
        return bound
    if os.environ.get("AMLITE_STORAGE"):
        return os.environ["AMLITE_STORAGE"]
    if os.environ.get("AzureWebJobsStorage"):
        return os.environ["AzureWebJobsStorage"]
    account = os.environ.get("AzureWebJobsStorage__accountName")
    if account:
        return f"https://{account}.blob.core.windows.net"
    return "UseDevelopmentStorage=true"


_services: dict[str, Services] = {}
_services_lock = threading.Lock()


def services_for(storage: str | None) -> Services:
    key = storage or "UseDevelopmentStorage=true"
    with _services_lock:
        found = _services.get(key)
        if found is None:
            found = Services(key)
            _services[key] = found
        return found


__all__ = ["Services", "services_for", "spec_blob_name", "get_account"]
