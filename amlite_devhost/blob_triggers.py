"""Serve blobTrigger functions by polling their containers, as the host's container scan does.

For each blob-triggered function the binding gives ``path`` (``container/{name}``,
or a pattern such as ``container/incoming/{name}.csv``) and ``connection`` (the
name of an app setting). Every ``interval`` seconds the runner lists the
container (only the pattern's literal prefix) on the storage that setting
names, and invokes the function for each blob that is new or whose ETag
changed, passing an ``azure.functions.InputStream`` (``name`` is
``container/path``, ``uri``, ``length``, ``blob_properties`` with the ETag;
``read()`` downloads lazily). A parameter annotated ``bytes`` or ``str`` gets
the content instead; one annotated with an SDK type of
azurefunctions-extensions-bindings-blob (``BlobClient``, ``ContainerClient``,
``StorageStreamDownloader``) gets what the Python worker builds from the model
binding data the host sends for it (connection, container, blob name; no
content), through that extension's own converter.

Differences from the host, on purpose for a dev tool: blobs present when the
runner starts are a baseline, not delivered (the host keeps receipts across
restarts; this runner keeps none, so re-delivering every old blob at each
start would be noise); a failing invocation is retried on the next polls, at
most ``MAX_ATTEMPTS`` times per version (the host's ``maxDequeueCount``),
then logged as poison. Connections: a connection string (``UseDevelopmentStorage=true``
included) in the setting, or ``<setting>__blobServiceUri`` / ``__serviceUri`` /
``__accountName`` for an identity-based connection.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import logging
import os
import re
import threading
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from .app_loader import FunctionInfo
from .settings import DEFAULT_BLOB_POLL, blob_poll_seconds

logger = logging.getLogger("amlite.devhost.blobs")

DEFAULT_INTERVAL = DEFAULT_BLOB_POLL
MAX_ATTEMPTS = 5
MAX_IN_FLIGHT = 16
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Invoke = Callable[[FunctionInfo, Any], "concurrent.futures.Future[Any]"]


def poll_interval() -> float:
    """``AMLITE_DEVHOST_BLOB_POLL_SECONDS`` (default 0.5 s), from :class:`DevHostSettings`."""
    return blob_poll_seconds(os.environ)


@dataclass(frozen=True)
class BlobPath:
    """A binding path split into the container and a matcher for blob names within it."""

    container: str
    prefix: str
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, path: str, function: str = "?") -> BlobPath:
        container, _, rest = path.strip("/").partition("/")
        if not container or "{" in container:
            raise ValueError(f"blob trigger '{function}': path {path!r} must start with a container name, "
                             "e.g. 'samples/{name}'")
        parts: list[str] = []
        last = 0
        for match in _PLACEHOLDER.finditer(rest):
            parts.append(re.escape(rest[last:match.start()]))
            parts.append(f"(?P<{match.group(1)}>.+?)" if match.end() < len(rest) else f"(?P<{match.group(1)}>.+)")
            last = match.end()
        parts.append(re.escape(rest[last:]))
        literal = _PLACEHOLDER.split(rest)[0] if rest else ""
        return cls(container, literal, re.compile("^" + "".join(parts) + "$" if rest else "^.+$"))

    def matches(self, blob: str) -> bool:
        return self.pattern.match(blob) is not None


def container_client(connection: str, container: str) -> ContainerClient:
    """The container on the storage named by app setting ``connection`` (as the host resolves it)."""
    value = os.environ.get(connection)
    if value:
        return BlobServiceClient.from_connection_string(value).get_container_client(container)
    uri = os.environ.get(f"{connection}__blobServiceUri") or os.environ.get(f"{connection}__serviceUri")
    account = os.environ.get(f"{connection}__accountName")
    if not uri and account:
        uri = f"https://{account}.blob.core.windows.net"
    if not uri:
        raise ValueError(f"blob trigger connection '{connection}' is not configured: set the app setting "
                         f"{connection} (a connection string) or {connection}__blobServiceUri")
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(account_url=uri, credential=DefaultAzureCredential()).get_container_client(container)


def is_sdk_type(annotation: Any) -> typing.TypeGuard[type]:
    """Whether ``annotation`` is an SDK binding type (a subclass of azurefunctions-extensions-base's ``SdkType``)."""
    if not isinstance(annotation, type) or not annotation.__module__.startswith("azurefunctions.extensions."):
        return False
    from azurefunctions.extensions.base import SdkType

    return issubclass(annotation, SdkType)


def sdk_trigger_value(connection: str, container: str, blob: str, annotation: type) -> Any:
    """The client the worker passes for an SDK-type blob trigger: the extension's converter decodes the model
    binding data (``Connection``, ``ContainerName``, ``BlobName``) the host sends instead of the content."""
    from azurefunctions.extensions.base import Datum, get_binding_registry

    content = json.dumps({"Connection": connection, "ContainerName": container, "BlobName": blob})
    data = SimpleNamespace(version="1.0", source="AzureStorageBlobs", content_type="application/json", content=content)
    converter = get_binding_registry().get("blobTrigger")
    return converter.decode(Datum(data, "model_binding_data"), trigger_metadata={}, pytype=annotation)


class DevBlobInputStream(func.InputStream):
    """``func.InputStream`` whose content is downloaded on the first ``read``."""

    def __init__(self, client: ContainerClient, container: str, name: str, etag: str, length: int,
                 last_modified: Any) -> None:
        self._client = client
        self._blob = name
        self._name = f"{container}/{name}"
        self._uri = client.get_blob_client(name).url
        self._length = length
        self._properties = {"ETag": etag, "Length": length, "LastModified": str(last_modified or "")}
        self._data: bytes | None = None
        self._offset = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def length(self) -> int:
        return self._length

    @property
    def blob_properties(self) -> dict[str, Any]:
        return dict(self._properties)

    @property
    def metadata(self) -> dict[str, str]:
        return {}

    def read(self, size: int | None = -1) -> bytes:
        if self._data is None:
            self._data = self._client.download_blob(self._blob).readall()
        end = len(self._data) if size is None or size < 0 else self._offset + size
        chunk = self._data[self._offset:end]
        self._offset += len(chunk)
        return chunk

    read1 = read

    def readable(self) -> bool:
        return True


@dataclass(eq=False)
class _Watch:
    info: FunctionInfo
    path: BlobPath
    client: ContainerClient
    known: dict[str, str] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    baseline_done: bool = False


class BlobTriggerRunner:
    """Poll every blob-triggered function's container on one daemon thread; ``invoke`` runs the function."""

    def __init__(self, functions: list[FunctionInfo], invoke: Invoke, *, interval: float | None = None) -> None:
        self._invoke = invoke
        self.interval = poll_interval() if interval is None else interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watches: list[_Watch] = []
        self._futures: set[concurrent.futures.Future[Any]] = set()
        for info in functions:
            path = BlobPath.parse(str(info.trigger.get("path") or ""), info.name)
            connection = str(info.trigger.get("connection") or "AzureWebJobsStorage")
            try:
                client = container_client(connection, path.container)
            except ValueError as exc:  # like the host: the function is in error, the others still run
                logger.error("The '%s' function is in error: %s", info.name, exc)
                continue
            self.watches.append(_Watch(info, path, client))

    def start(self) -> None:
        if self._thread is not None or not self.watches:
            return
        self._stop.clear()
        for watch in self.watches:
            self._scan_logged(watch)  # the baseline, before start() returns: later uploads are all delivered
        self._thread = threading.Thread(target=self._run, name="amlite-blob-triggers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and let invocations in flight finish (up to ``timeout``), as the host drains on shutdown."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None
        with self._lock:
            pending = list(self._futures)
        concurrent.futures.wait(pending, timeout=timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for watch in self.watches:
                self._scan_logged(watch)

    def _scan_logged(self, watch: _Watch) -> None:
        try:
            self._scan(watch)
        except Exception:  # a storage hiccup must not end the runner (nor the host's start)
            logger.exception("blob trigger '%s': listing %s failed", watch.info.name, watch.path.container)

    def _scan(self, watch: _Watch) -> None:
        try:
            blobs = list(watch.client.list_blobs(name_starts_with=watch.path.prefix or None))
        except ResourceNotFoundError:  # the container does not exist yet
            blobs = []
        for blob in blobs:
            if not watch.path.matches(blob.name):
                continue
            etag = str(blob.etag).strip('"')
            with self._lock:
                if watch.known.get(blob.name) == etag or (blob.name, etag) in watch.in_flight:
                    continue
                watch.known[blob.name] = etag
                if not watch.baseline_done:
                    continue
                if len(watch.in_flight) >= MAX_IN_FLIGHT:
                    watch.known.pop(blob.name)  # back-pressure: pick it up on a later poll
                    continue
                watch.in_flight.add((blob.name, etag))
            self._fire(watch, blob.name, etag, int(blob.size or 0), blob.last_modified)
        watch.baseline_done = True

    def _trigger_value(self, watch: _Watch, stream: DevBlobInputStream) -> Any:
        param = watch.info.trigger_param or "blob"
        try:
            annotation = typing.get_type_hints(watch.info.func).get(param)  # resolves `from __future__` strings
        except Exception:  # noqa: BLE001 - an unresolvable hint: fall back to the raw annotation
            try:
                annotation = inspect.signature(watch.info.func).parameters[param].annotation
            except (KeyError, TypeError, ValueError):
                annotation = None
        if is_sdk_type(annotation):
            connection = str(watch.info.trigger.get("connection") or "AzureWebJobsStorage")
            return sdk_trigger_value(connection, watch.path.container, stream._blob, annotation)
        if annotation in (bytes, "bytes"):
            return stream.read()
        if annotation in (str, "str"):
            return stream.read().decode("utf-8")
        return stream

    def _fire(self, watch: _Watch, name: str, etag: str, length: int, last_modified: Any) -> None:
        stream = DevBlobInputStream(watch.client, watch.path.container, name, etag, length, last_modified)
        try:
            future = self._invoke(watch.info, self._trigger_value(watch, stream))
        except Exception as exc:  # noqa: BLE001 - treated like a failed invocation
            future = concurrent.futures.Future()
            future.set_exception(exc)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(lambda f: self._finished(watch, name, etag, f))

    def _finished(self, watch: _Watch, name: str, etag: str, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception()
        with self._lock:
            self._futures.discard(future)
            watch.in_flight.discard((name, etag))
            if exc is None:
                watch.attempts.pop((name, etag), None)
                return
            count = watch.attempts.get((name, etag), 0) + 1
            watch.attempts[(name, etag)] = count
            if count < MAX_ATTEMPTS and watch.known.get(name) == etag:
                watch.known.pop(name)  # deliver it again on the next poll
        if count < MAX_ATTEMPTS:
            logger.warning("Executed 'Functions.%s' (Failed, attempt %d of %d) for %s: %s", watch.info.name, count,
                           MAX_ATTEMPTS, name, exc)
        else:
            logger.error("Executed 'Functions.%s' (Failed) for %s %d times: poison, not retried: %s",
                         watch.info.name, name, count, exc, exc_info=(type(exc), exc, exc.__traceback__))
