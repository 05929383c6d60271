"""Step side of the run context: HTTP calls to the host's run context service, and the metric buffer.

Stdlib only (``http.client``). Metrics are buffered and sent in batches (at
most a second late, at once when 100 are waiting, and at process exit), as
AML's client does, so a training loop that logs every batch does not wait on
a round trip per value; every other call is sent at once, after the pending
metrics. A failed send is retried; what still cannot be sent is reported on
stderr, never raised into the training loop.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.errors import RunContextError as RunContextError
from pipeline_core.exceptions import ModelNotFoundException, ModelPathNotFoundException

URL_VARIABLE = "AMLITE_RUN_CONTEXT_URL"
TOKEN_VARIABLE = "AMLITE_RUN_TOKEN"
FLUSH_SECONDS = 1.0
FLUSH_COUNT = 100  # wakes the sender early
MAX_PENDING = 20_000  # a logger faster than the host waits here rather than growing memory without bound
_RETRIES = (0.2, 0.5, 1.0)



_BY_CODE: dict[str, type[AmliteError]] = {"ModelNotFoundException": ModelNotFoundException,
                                          "ModelPathNotFoundException": ModelPathNotFoundException,
                                          "NotFoundError": NotFoundError}


class RunContextClient:
    """One kept-alive connection to the host's service (calls are serialised; steps make few at a time)."""

    def __init__(self, url: str, token: str, timeout: float = 600.0):
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise RunContextError(f"{URL_VARIABLE}={url!r} is not a loopback http URL")
        self.host, self.port = parts.hostname, parts.port or 80
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.RLock()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
             data: bytes | IO[bytes] | None = None, length: int | None = None, raw: bool = False) -> Any:
        """``body`` is sent as JSON, ``data`` as the raw body; ``raw`` returns the response as chunks."""
        target = "/v1" + path + (("?" + urlencode(query)) if query else "")
        headers = {"Authorization": f"Bearer {self.token}"}
        payload: Any = None
        if body is not None:
            payload = json.dumps(body, allow_nan=True).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            payload = data
            headers["Content-Type"] = "application/octet-stream"
        if payload is not None or method in ("POST", "PUT"):
            size = length if length is not None else len(payload) if isinstance(payload, bytes) else None
            if size is None:
                raise RunContextError("a file upload needs its length")
            headers["Content-Length"] = str(size)
        with self._lock:
            for pause in (*_RETRIES, None):
                start = payload.tell() if hasattr(payload, "tell") else None
                try:
                    conn = self._connection()
                    conn.request(method, target, body=payload, headers=headers)
                    response = conn.getresponse()
                    if raw and response.status == 200:
                        return self._chunks(response)
                    text = response.read()
                    break
                except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as exc:
                    self._drop()
                    rewindable = start is not None and hasattr(payload, "seek")
                    if pause is None or (payload is not None and not isinstance(payload, bytes) and not rewindable):
                        raise RunContextError(f"could not reach the run context service at {self.host}:{self.port} "
                                              f"({type(exc).__name__}: {exc}); is the step still running?") from None
                    if rewindable:
                        payload.seek(start)
                    time.sleep(pause)
            if response.status >= 400 or response.getheader("Connection", "").lower() == "close":
                self._drop()
        if response.status >= 400:
            raise _error(response.status, text)
        return json.loads(text) if text else {}

    def _chunks(self, response: http.client.HTTPResponse) -> Iterator[bytes]:
        """Hold the connection until the body is read (the caller reads it at once)."""
        try:
            while True:
                chunk = response.read(1024 * 1024)
                if not chunk:
                    return
                yield chunk
        finally:
            response.close()


def _error(status: int, text: bytes) -> AmliteError:
    try:
        error = json.loads(text)["error"]
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message = "", text.decode("utf-8", errors="replace")[:500]
    kind = _BY_CODE.get(code)
    if kind is not None:
        return kind(message)
    return RunContextError(f"the run context service answered {status}: {message}", status, code)


def _parts(records: list[dict[str, Any]], count: int = 1000, size: int = 8 * 1024 * 1024) -> Iterator[list[Any]]:
    """Requests of at most ``count`` records and about ``size`` bytes (the service takes 16 MiB bodies)."""
    part: list[dict[str, Any]] = []
    held = 0
    for record in records:
        length = len(json.dumps(record, allow_nan=True))
        if part and (len(part) >= count or held + length > size):
            yield part
            part, held = [], 0
        part.append(record)
        held += length
    if part:
        yield part


def _path_segment(value: str) -> str:
    return quote(value, safe="")


class ChannelBackend:
    """A run's records and the model registry, reached through the host (inside a step)."""

    in_step = True

    def __init__(self, client: RunContextClient):
        self.client = client
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._pending_lock = threading.Condition()
        self._writer = secrets.token_hex(4)
        self._counter = 0
        self._flusher: threading.Thread | None = None
        atexit.register(self.flush)

    # -- metrics -----------------------------------------------------------------------
    def log(self, run_id: str, name: str, kind: str, value: Any, description: str = "") -> None:
        """Queue one value for the background sender (microseconds; it never waits on the network)."""
        with self._pending_lock:
            while len(self._pending) >= MAX_PENDING and self._flusher is not None:
                self._pending_lock.wait(1.0)
            self._counter += 1
            sequence = f"{time.time_ns():020d}-{self._writer}-{self._counter:08d}"
            self._pending.append((run_id, {"name": name, "kind": kind, "value": value, "seq": sequence,
                                           "description": description}))
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_forever, name="amlite-metrics", daemon=True)
                self._flusher.start()
            if len(self._pending) >= FLUSH_COUNT:
                self._pending_lock.notify_all()

    def _flush_forever(self) -> None:
        while True:
            with self._pending_lock:
                if len(self._pending) < FLUSH_COUNT:
                    self._pending_lock.wait(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception as exc:  # never let the sender die: the next round tries again
                print(f"[amlite] sending metrics failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        """Send every pending metric now (grouped per run: the step's own and its parent's)."""
        with self.client._lock:  # one sender at a time, so batches arrive in logging order
            with self._pending_lock:
                pending, self._pending = self._pending, []
                self._pending_lock.notify_all()  # loggers held back by MAX_PENDING go on
            by_run: dict[str, list[dict[str, Any]]] = {}
            for run_id, record in pending:
                by_run.setdefault(run_id, []).append(record)
            for run_id, records in by_run.items():
                for part in _parts(records):
                    try:
                        self.client.call("POST", f"/runs/{_path_segment(run_id)}/metrics", body={"metrics": part})
                    except AmliteError as exc:
                        print(f"[amlite] {len(part)} metric values of run {run_id} could not be saved: {exc}",
                              file=sys.stderr, flush=True)

    def get_metrics(self, run_id: str, recursive: bool = False) -> dict[str, dict[str, Any]]:
        self.flush()
        answer = self.client.call("GET", f"/runs/{_path_segment(run_id)}/metrics",
                                  query={"recursive": "1" if recursive else "0"})
        return dict(answer["metrics"])

    # -- run -----------------------------------------------------------------------------
    def details(self, run_id: str) -> dict[str, Any]:
        return dict(self.client.call("GET", f"/runs/{_path_segment(run_id)}"))

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.flush()
        self.client.call("POST", f"/runs/{_path_segment(run_id)}/tags", body={"tags": tags})

    def remove_tags(self, run_id: str, names: list[str]) -> None:
        self.client.call("POST", f"/runs/{_path_segment(run_id)}/tags", body={"remove": names})

    def add_properties(self, run_id: str, properties: dict[str, Any]) -> None:
        self.client.call("POST", f"/runs/{_path_segment(run_id)}/properties", body={"properties": properties})

    def tags_and_properties(self, run_id: str) -> dict[str, dict[str, str]]:
        return dict(self.client.call("GET", f"/runs/{_path_segment(run_id)}/tags"))

    def upload(self, run_id: str, name: str, data: bytes | IO[bytes], length: int) -> str:
        answer = self.client.call("PUT", f"/runs/{_path_segment(run_id)}/files", query={"name": name}, data=data,
                                  length=length)
        return str(answer["name"])

    def file_names(self, run_id: str) -> list[str]:
        return list(self.client.call("GET", f"/runs/{_path_segment(run_id)}/files")["names"])

    def download(self, run_id: str, name: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.client._lock:  # the connection is busy until the whole body is read
            chunks = self.client.call("GET", f"/runs/{_path_segment(run_id)}/files/content", query={"name": name},
                                      raw=True)
            with open(target, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
        return target

    def register_model(self, run_id: str, model_name: str, model_path: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.flush()
        return dict(self.client.call("POST", f"/runs/{_path_segment(run_id)}/models",
                                     body={**fields, "model_name": model_name, "model_path": model_path}))

    # -- models ----------------------------------------------------------------------------
    def find_models(self, name: str | None = None, version: int | None = None, tags: Any = None,
                    properties: Any = None, latest: bool = False, run_id: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"name": name or "", "latest": "1" if latest else "0", "run_id": run_id or ""}
        if version is not None:
            query["version"] = str(int(version))
        for key, value in (("tags", tags), ("properties", properties)):
            if value:
                query[key] = json.dumps(value)
        return list(self.client.call("GET", "/models", query=query)["models"])

    def local_model(self, name: str, version: int | None) -> tuple[str, dict[str, Any]]:
        answer = self.client.call("POST", "/models/local", body={"name": name, "version": version})
        return str(answer["path"]), dict(answer["model"])

    def register_local(self, path: Path, model_name: str, child_paths: list[str] | None,
                       fields: dict[str, Any]) -> dict[str, Any]:
        """Send a local file or folder through the host (the step has no storage access of its own)."""
        if not path.exists():
            raise ModelPathNotFoundException(f"model_path {str(path)!r} does not exist; give the model file or "
                                             "folder to register")
        root = path.resolve().name
        upload = self.client.call("POST", "/models/uploads", body={"name": model_name, "root": root})["upload_id"]
        if path.is_file():
            files = [(path, root)]
        else:
            chosen = [path / c for c in child_paths] if child_paths else sorted(p for p in path.rglob("*") if p.is_file())
            files = [(p, f"{root}/{p.relative_to(path).as_posix()}") for p in chosen]
        for file, relative in files:
            with open(file, "rb") as handle:
                self.client.call("PUT", f"/models/uploads/{upload}", query={"path": relative}, data=handle,
                                 length=os.fstat(handle.fileno()).st_size)
        return dict(self.client.call("POST", "/models", body={**fields, "upload_id": upload}))

    def download_model(self, record: dict[str, Any], target_dir: Path, exist_ok: bool) -> Path:
        """Copy the host's cached copy (same machine) into ``target_dir``."""
        import shutil

        source, _ = self.local_model(record["name"], int(record["version"]))
        destination = target_dir / Path(source).name
        if destination.exists() and not exist_ok:
            raise AmliteError(f"{destination} already exists; remove it or pass exist_ok=True")
        target_dir.mkdir(parents=True, exist_ok=True)
        if Path(source).is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(source, destination)
        return destination

    def update_model(self, name: str, version: int, **changes: Any) -> dict[str, Any]:
        return dict(self.client.call("POST", f"/models/{_path_segment(name)}/{int(version)}", body=changes))

    def delete_model(self, name: str, version: int) -> None:
        self.client.call("DELETE", f"/models/{_path_segment(name)}/{int(version)}")


_backend: ChannelBackend | None = None
_backend_key: tuple[str, str, int] | None = None
_backend_lock = threading.Lock()


def context_backend() -> ChannelBackend | None:
    """The channel to this step's host, or None outside a step (no ``AMLITE_RUN_CONTEXT_URL``).

    One per process: a forked child (multiprocessing) gets its own connection and sender; it
    should call ``run.flush()`` before it ends, since a forked child skips ``atexit``.
    """
    global _backend, _backend_key
    url, token = os.environ.get(URL_VARIABLE), os.environ.get(TOKEN_VARIABLE)
    if not url or not token:
        return None
    key = (url, token, os.getpid())
    with _backend_lock:
        if _backend is None or _backend_key != key:
            _backend = ChannelBackend(RunContextClient(url, token))
            _backend_key = key
        return _backend
