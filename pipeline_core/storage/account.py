"""One storage account: Blob and Table clients built from a connection string or an account URL.

Why a wrapper: both SDKs are needed everywhere (run state in Tables, data and logs
in Blobs) and both must be built the same way: a connection string locally
(Azurite), or keyless with ``DefaultAzureCredential`` in Azure, the way the
Functions quickstarts configure ``AzureWebJobsStorage__accountName``. Containers
and tables are created once per process, not per call.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

import requests
import requests.adapters
from azure.core.exceptions import ResourceExistsError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient

from pipeline_core.storage.azurite import AzuritePorts

SYSTEM_CONTAINERS = ("snapshots", "pipelinedata", "logs")


def _is_connection_string(value: str) -> bool:
    return "=" in value and ";" in value or value.strip().lower() == "usedevelopmentstorage=true"


class StorageAccount:
    """Blob + Table access for one account, shared by everything in the process."""

    _lock = threading.Lock()

    def __init__(self, storage: str | None = None):
        value = (storage or "UseDevelopmentStorage=true").strip()
        if value.lower() == "usedevelopmentstorage=true":
            value = AzuritePorts.from_env().connection_string()
        self.storage = value
        self._containers: set[str] = set()
        self._tables: dict[str, TableClient] = {}

    @property
    def is_local(self) -> bool:
        return "devstoreaccount1" in self.storage or "127.0.0.1" in self.storage or "localhost" in self.storage

    def _credential(self) -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def _client_options(self) -> dict[str, Any]:
        """For the local emulator: a session that skips proxy discovery from the environment.

        ``requests`` re-reads proxy settings from ``os.environ`` on every call
        (about 2 ms per storage operation here); loopback traffic never uses a
        proxy, so local accounts skip it. Real accounts keep the default, which
        honours HTTPS_PROXY.
        """
        if not self.is_local:
            return {}
        session = requests.Session()
        session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("http://", adapter)
        return {"transport": RequestsTransport(session=session, session_owner=False)}

    @cached_property
    def blobs(self) -> BlobServiceClient:
        if _is_connection_string(self.storage):
            return BlobServiceClient.from_connection_string(self.storage, **self._client_options())
        url = self.storage if self.storage.startswith("http") else f"https://{self.storage}.blob.core.windows.net"
        return BlobServiceClient(account_url=url, credential=self._credential())

    @cached_property
    def tables(self) -> TableServiceClient:
        if _is_connection_string(self.storage):
            return TableServiceClient.from_connection_string(self.storage, **self._client_options())
        url = self.storage if self.storage.startswith("http") else f"https://{self.storage}.table.core.windows.net"
        url = url.replace(".blob.", ".table.")
        return TableServiceClient(endpoint=url, credential=self._credential())

    def container(self, name: str) -> ContainerClient:
        """A container client, creating the container the first time this process asks for it."""
        client = self.blobs.get_container_client(name)
        if name not in self._containers:
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            self._containers.add(name)
        return client

    def table(self, name: str) -> TableClient:
        """A table client, creating the table the first time this process asks for it."""
        client = self._tables.get(name)
        if client is None:
            with self._lock:
                client = self._tables.get(name)
                if client is None:
                    client = self.tables.create_table_if_not_exists(name)
                    self._tables[name] = client
        return client


_accounts: dict[str, StorageAccount] = {}
_accounts_lock = threading.Lock()


def get_account(storage: str | None = None) -> StorageAccount:
    """The process-wide account for ``storage`` (connection pools are per client, so share them)."""
    key = (storage or "UseDevelopmentStorage=true").strip()
    with _accounts_lock:
        account = _accounts.get(key)
        if account is None:
            account = StorageAccount(key)
            _accounts[key] = account
        return account
