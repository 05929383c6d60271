"""The storage account the dev host keeps orchestration state in, as Durable's Azure Storage provider does.

Why a seam: the host is generic, but an app may want its own clients for the
same account (amlite's carry its retry policy and request budgets). So the
host asks an :data:`AccountFactory` for a :class:`StorageClients`; the default,
:class:`Account`, builds plain Azure SDK clients from a connection string or,
keyless, from an account URL with ``DefaultAzureCredential``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient

#: Seconds to connect, and of silence on an open connection, before a storage call counts as failed.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class StorageClients(Protocol):
    """What the orchestration store needs of an account (``pipeline_core.storage.account.StorageAccount`` fits)."""

    storage: str

    @property
    def tables(self) -> TableServiceClient: ...

    def table(self, name: str) -> TableClient: ...

    def container(self, name: str) -> ContainerClient: ...


#: Makes the clients for one account from its connection string or URL; called once per store.
AccountFactory = Callable[[str], StorageClients]


def _is_connection_string(value: str) -> bool:
    return "=" in value and ";" in value or value.strip().lower() == "usedevelopmentstorage=true"


class Account:
    """Blob and Table clients for one account, creating containers and tables on first use."""

    def __init__(self, storage: str) -> None:
        self.storage = (storage or "UseDevelopmentStorage=true").strip()
        self._lock = threading.Lock()
        self._containers: set[str] = set()
        self._tables: dict[str, TableClient] = {}

    @property
    def is_local(self) -> bool:
        return "devstoreaccount1" in self.storage or "127.0.0.1" in self.storage or "localhost" in self.storage

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"connection_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT}
        if self.is_local:
            # requests re-reads proxy settings from the environment on every call (milliseconds per
            # operation); loopback traffic never uses a proxy, so the emulator's clients skip that.
            import requests
            from azure.core.pipeline.transport import RequestsTransport

            session = requests.Session()
            session.trust_env = False
            options["transport"] = RequestsTransport(session=session, session_owner=False)
        return options

    @staticmethod
    def _credential() -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    @cached_property
    def blobs(self) -> BlobServiceClient:
        if _is_connection_string(self.storage):
            return BlobServiceClient.from_connection_string(self.storage, **self._options())
        url = self.storage if self.storage.startswith("http") else f"https://{self.storage}.blob.core.windows.net"
        return BlobServiceClient(account_url=url, credential=self._credential(), **self._options())

    @cached_property
    def tables(self) -> TableServiceClient:
        if _is_connection_string(self.storage):
            return TableServiceClient.from_connection_string(self.storage, **self._options())
        url = self.storage if self.storage.startswith("http") else f"https://{self.storage}.table.core.windows.net"
        return TableServiceClient(endpoint=url.replace(".blob.", ".table."), credential=self._credential(),
                                  **self._options())

    def container(self, name: str) -> ContainerClient:
        client = self.blobs.get_container_client(name)
        if name not in self._containers:
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            self._containers.add(name)
        return client

    def table(self, name: str) -> TableClient:
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                client = self.tables.create_table_if_not_exists(name)
                self._tables[name] = client
            return client
