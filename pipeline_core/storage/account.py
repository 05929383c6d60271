"""One storage account: Blob and Table clients built from a connection string or an account URL.

Why a wrapper: both SDKs are needed everywhere (run state in Tables, data and logs
in Blobs) and both must be built the same way: a connection string locally
(Azurite), or keyless with ``DefaultAzureCredential`` in Azure, the way the
Functions quickstarts configure ``AzureWebJobsStorage__accountName``. Containers
and tables are created once per process, not per call.

Retries: both clients retry a refused connection, a timeout or a 5xx for about
half a minute, with backoff capped at a few seconds, so a storage blip or an
Azurite restart does not fail engine work. Table writes too: the Tables SDK
never retries an insert, merge or batch, so the transport retries those when
the connection could not be made (the server never saw them); one cut off
after it was sent is left to the caller, as the SDK leaves it. An API request cannot wait that long: inside
:func:`request_budget` a retry that would start after the budget raises
:class:`StorageUnavailableError` instead (the API answers 503 with
``Retry-After``). A budget never cuts an answer that is on its way: only retries
are refused, so a slow but healthy storage account still answers.
"""

from __future__ import annotations

import contextvars
import functools
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from azure.core.exceptions import ResourceExistsError, ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient

from pipeline_core.errors import StorageUnavailableError as StorageUnavailableError
from pipeline_core.storage.azurite import AzuritePorts, connection_string_fields

if TYPE_CHECKING:  # the Blob SDK is imported when blobs are first used: a command that reads run rows never loads it
    from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

SYSTEM_CONTAINERS = ("snapshots", "pipelinedata", "logs")

#: Seconds to wait for a TCP connection: an answering account connects in milliseconds.
CONNECT_TIMEOUT = 5.0
#: Seconds of silence on an open connection before it counts as failed (tables; blobs move more data).
TABLE_READ_TIMEOUT = 30.0
BLOB_READ_TIMEOUT = 60.0
#: Retries of one storage operation: waits of 0.5, 1, 2, then 4 s each, about 30 s in all.
RETRIES = 10
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 4.0
#: How long an API request may spend retrying storage before it answers 503 (``AMLITE_STORAGE_BUDGET_SECONDS``).
DEFAULT_REQUEST_BUDGET = 5.0
BUDGET_SETTING = "AMLITE_STORAGE_BUDGET_SECONDS"

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("amlite_storage_deadline", default=None)



def configured_budget() -> float:
    """``AMLITE_STORAGE_BUDGET_SECONDS`` (default 5); a bad value is named, never ignored."""
    raw = os.environ.get(BUDGET_SETTING, "").strip()
    if not raw:
        return DEFAULT_REQUEST_BUDGET
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise ValueError(f"app setting {BUDGET_SETTING}={raw!r} must be a number of seconds between 0 and 300")
    return value


@contextmanager
def request_budget(seconds: float | None = None) -> Iterator[float]:
    """Within this block (this thread or task), storage retries stop once ``seconds`` have passed."""
    budget = configured_budget() if seconds is None else seconds
    token = _deadline.set(time.monotonic() + budget)
    try:
        yield budget
    finally:
        _deadline.reset(token)


def _refuse_retry_after(wait: float) -> None:
    """Raise if a retry ``wait`` seconds from now would start after the current request's budget."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() + wait > deadline:
        raise StorageUnavailableError("the storage account did not answer within this request's budget")


def _backoff(attempt: int) -> float:
    """The wait before retry ``attempt`` (0-based): 0.5, 1, 2, then 4 s, with jitter."""
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** attempt) * random.uniform(0.8, 1.2)


#: Methods the Tables SDK's retry policy retries after an error; it never retries the others (inserts, merges,
#: batches), not even when the connection was refused.
_TABLE_SDK_RETRIED = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE"})


class _BudgetedTransport(RequestsTransport):
    """Refuses a retry (a request sent a second time) once the request budget is spent.

    The Tables SDK builds its retry policy itself, so its retries are seen here, where every attempt passes.
    With ``retry_refused_writes``, a write the SDK would not retry (POST, MERGE, PATCH) is retried here when
    its connection could not even be made (``ServiceRequestError``: the server never saw it, so a retry
    cannot apply it twice); a write cut off after it was sent is left to the caller, as the SDK leaves it.
    """

    def __init__(self, *, retry_refused_writes: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_refused_writes = retry_refused_writes

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if getattr(request, "_amlite_sent", False):
            _refuse_retry_after(0.0)
        else:
            try:
                request._amlite_sent = True
            except AttributeError:  # a request type without a __dict__: budgets then apply to blob waits only
                pass
        retry_here = self.retry_refused_writes and request.method.upper() not in _TABLE_SDK_RETRIED
        attempt = 0
        while True:
            try:
                return super().send(request, **kwargs)
            except ServiceRequestError:
                if not retry_here or attempt >= RETRIES:
                    raise
                wait = _backoff(attempt)
                _refuse_retry_after(wait)
                time.sleep(wait)
                attempt += 1


@functools.cache
def _blob_retry() -> type[ExponentialRetry]:
    """The Blob SDK's retry policy with capped exponential waits (0.5, 1, 2, 4, 4, ... s, with jitter) that never
    outlast a request budget; made on first use, as the Blob SDK is imported only then."""
    from azure.storage.blob import ExponentialRetry

    class BlobRetry(ExponentialRetry):
        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            return _backoff(settings["count"])

        def sleep(self, settings: dict[str, Any], transport: Any) -> None:
            wait = self.get_backoff_time(settings)
            _refuse_retry_after(wait)
            transport.sleep(wait)

    return BlobRetry


def _retry_settings() -> dict[str, Any]:
    return {"retry_total": RETRIES, "retry_connect": RETRIES, "retry_read": 3, "retry_status": 4}


def _is_connection_string(value: str) -> bool:
    return "=" in value and ";" in value or value.strip().lower() == "usedevelopmentstorage=true"


def account_name_of(storage: str) -> str | None:
    """The storage account a connection string, account URL or bare account name names (None: it does not say).

    Why: AML's ``Datastore.account_name`` of the workspace's own datastores is the workspace's account,
    and samples print or concatenate it.
    """
    value = (storage or "").strip()
    if value.lower() == "usedevelopmentstorage=true":
        return "devstoreaccount1"
    fields = connection_string_fields(value)
    if fields.get("accountname"):
        return fields["accountname"]
    if fields.get("blobendpoint"):  # a SAS connection string names the account only in its endpoints
        value = fields["blobendpoint"]
    if value.startswith(("http://", "https://")):
        parsed = urlsplit(value)
        host = parsed.hostname or ""
        if host in ("127.0.0.1", "localhost"):  # the emulator names the account in the path
            return parsed.path.strip("/").split("/")[0] or None
        return host.split(".")[0] or None
    if value and "=" not in value and "/" not in value:
        return value
    return None


class StorageAccount:
    """Blob + Table access for one account, shared by everything in the process."""

    _lock = threading.Lock()

    def __init__(self, storage: str | None = None):
        value = (storage or "UseDevelopmentStorage=true").strip()
        if value.lower() == "usedevelopmentstorage=true":
            value = AzuritePorts.from_env().connection_string()
        self.storage = value
        self._container_clients: dict[str, ContainerClient] = {}
        self._tables: dict[str, TableClient] = {}

    @property
    def is_local(self) -> bool:
        return "devstoreaccount1" in self.storage or "127.0.0.1" in self.storage or "localhost" in self.storage

    def _credential(self) -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def _transport(self, read_timeout: float, retry_refused_writes: bool = False) -> _BudgetedTransport:
        """Bounded timeouts and request budgets; for the local emulator, no proxy discovery.

        ``requests`` re-reads proxy settings from ``os.environ`` on every call
        (about 2 ms per storage operation here); loopback traffic never uses a
        proxy, so local accounts skip it. Real accounts keep the default, which
        honours HTTPS_PROXY.
        """
        options: dict[str, Any] = {"connection_timeout": CONNECT_TIMEOUT, "read_timeout": read_timeout,
                                   "retry_refused_writes": retry_refused_writes}
        if not self.is_local:
            return _BudgetedTransport(**options)
        session = requests.Session()
        session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("http://", adapter)
        return _BudgetedTransport(session=session, session_owner=False, **options)

    @cached_property
    def blobs(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        options: dict[str, Any] = {"transport": self._transport(BLOB_READ_TIMEOUT),
                                   "retry_policy": _blob_retry()(**_retry_settings())}
        if _is_connection_string(self.storage):
            return BlobServiceClient.from_connection_string(self.storage, **options)
        url = self.storage if self.storage.startswith("http") else f"https://{self.storage}.blob.core.windows.net"
        return BlobServiceClient(account_url=url, credential=self._credential(), **options)

    @cached_property
    def tables(self) -> TableServiceClient:
        options: dict[str, Any] = {"transport": self._transport(TABLE_READ_TIMEOUT, retry_refused_writes=True),
                                   "retry_backoff_factor": FIRST_BACKOFF,
                   "retry_backoff_max": MAX_BACKOFF, **_retry_settings()}
        if _is_connection_string(self.storage):
            return TableServiceClient.from_connection_string(self.storage, **options)
        url = self.storage if self.storage.startswith("http") else f"https://{self.storage}.table.core.windows.net"
        url = url.replace(".blob.", ".table.")
        return TableServiceClient(endpoint=url, credential=self._credential(), **options)

    def container(self, name: str) -> ContainerClient:
        """A container client, creating the container the first time this process asks for it.

        Kept per name, as the table clients are: building one costs more CPU than a small request (a
        ParallelRunStep's slices ask for their containers per mini-batch), and the SDK's clients are
        safe to share between threads."""
        client = self._container_clients.get(name)
        if client is not None:
            return client
        client = self.blobs.get_container_client(name)
        try:
            client.create_container()
        except ResourceExistsError:
            pass
        self._container_clients[name] = client
        return client

    def table(self, name: str) -> TableClient:
        """A table client, creating the table the first time this process asks for it."""
        client = self._tables.get(name)
        if client is None:
            # Not under the lock: two tables asked for at once (a run's rows and its index entry) are created
            # side by side; the same one asked for twice is created twice, which the service allows.
            made = self.tables.create_table_if_not_exists(name)
            with self._lock:
                client = self._tables.setdefault(name, made)
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
