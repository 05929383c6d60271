"""Bringing one mini-batch's data to this host, and reading parquet footers for partitioning.

Only what a batch needs is downloaded: its files, or for a slice of a big
delimited file just the header line plus the bytes of its rows (found with
ranged reads), so a 1MB batch of a 10GB CSV moves about 1MB. What the worker
receives is the local payload: file paths, or reader parts for a DataFrame.
Whole files go through ``BlobGetter`` (a bare GET; see there why).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContainerSasPermissions, generate_container_sas

from pipeline_core.data.dataset_paths import ContainerFor, DatasetFile, local_path
from pipeline_core.data.tabular_dataset import part_for
from pipeline_core.safe_paths import safe_join
from pipeline_core.storage.blobs import RangedBlob

_PROBE = 64 * 1024
SMALL_BLOB = 4 * 1024 * 1024  # read in one piece; bigger blobs stream to disk


def location_files(container: ContainerClient, datastore: str, prefix: str) -> list[DatasetFile]:
    """The blobs of a folder-shaped input (pipeline data, DataReference) as dataset files relative to it."""
    prefix = prefix.strip("/")
    files = []
    for name, etag, size in fast_lister(container, prefix):
        if prefix and name != prefix and not name.startswith(prefix + "/"):
            continue
        rel = name.rsplit("/", 1)[-1] if name == prefix else (name[len(prefix) + 1:] if prefix else name)
        files.append(DatasetFile(datastore, name, etag, size, rel))
    return sorted(files, key=lambda f: f.name)


def next_row_start(read: Callable[[int, int], bytes], offset: int, size: int) -> int:
    """The first byte of the first row starting at or after ``offset`` (0 and ``size`` are their own answers)."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    pos = offset - 1  # a row starts at ``offset`` exactly when the byte before it ends a line
    while pos < size:
        chunk = read(pos, min(_PROBE, size - pos))
        if not chunk:
            return size
        found = chunk.find(b"\n")
        if found >= 0:
            return pos + found + 1
        pos += len(chunk)
    return size


def _reader(container: ContainerClient, name: str) -> Callable[[int, int], bytes]:
    def read(offset: int, length: int) -> bytes:
        data: bytes = container.download_blob(name, offset=offset, length=length).readall()
        return data

    return read


def fetch_csv_slice(container: ContainerClient, f: DatasetFile, start: int, end: int, header: bool,
                    target: Path) -> None:
    """Write the header line (if any) plus the rows that start in [start, end) to ``target``."""
    read = _reader(container, f.name)
    header_end = next_row_start(read, 1, f.size) if header else 0
    s = max(next_row_start(read, start, f.size), header_end)
    e = next_row_start(read, end, f.size)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        if header_end:
            line = read(0, header_end)
            handle.write(line if line.endswith(b"\n") else line + b"\n")
        if e > s:
            container.download_blob(f.name, offset=s, length=e - s).readinto(handle)


_http_lock = threading.Lock()
_http_pool: Any = None


def http_pool() -> Any:
    """One pooled HTTP client per process, retrying what the SDK would retry."""
    global _http_pool
    with _http_lock:
        if _http_pool is None:
            import urllib3

            retries = urllib3.Retry(total=4, backoff_factor=0.2, status_forcelist=(408, 429, 500, 502, 503, 504),
                                    allowed_methods=None, raise_on_status=False)
            _http_pool = urllib3.PoolManager(num_pools=16, maxsize=16, retries=retries,
                                             timeout=urllib3.Timeout(connect=20, read=120))
        return _http_pool


class BlobGetter:
    """Whole-blob GETs of one container over a plain pooled HTTP connection, read access prepared once.

    Why not ``download_blob``: a mini-batch of small files is mostly per-request
    overhead, and the SDK's pipeline (policies, a downloader object, header
    deserialisation) costs about 1.5 ms of CPU per blob in the process that also
    feeds the workers; a bare GET costs about 0.3 ms. Read access is a
    read-only container SAS made from the account key (connection strings,
    Azurite), the SAS already in the container URL, or a bearer token from the
    credential (managed identity); anything else, or a proxy in the
    environment, uses the SDK.
    """

    def __init__(self, container: ContainerClient):
        self.container = container
        self.base = container.url.split("?", 1)[0]
        self._auth: tuple[str, dict[str, str], float] | None = None
        self._lock = threading.Lock()
        self.raw = not urllib.request.getproxies()

    def _prepare(self) -> tuple[str, dict[str, str]] | None:
        now = time.time()
        with self._lock:
            if self._auth is not None and self._auth[2] > now + 300:
                return self._auth[0], self._auth[1]
            headers = {"x-ms-version": self.container.api_version}
            credential = self.container.credential
            query, expires = "", now + 10 * 365 * 86400
            if getattr(credential, "account_key", None):
                expiry = datetime.now(timezone.utc) + timedelta(hours=1)
                query = "?" + generate_container_sas(credential.account_name, self.container.container_name,
                                                     account_key=credential.account_key, expiry=expiry,
                                                     permission=ContainerSasPermissions(read=True, list=True))
                expires = now + 3600
            elif hasattr(credential, "get_token"):
                token = credential.get_token("https://storage.azure.com/.default")
                headers["Authorization"] = f"Bearer {token.token}"
                expires = float(token.expires_on)
            elif "?" in self.container.url:
                query = "?" + self.container.url.split("?", 1)[1]
            elif credential is not None:
                return None  # an auth this class does not know: let the SDK do it
            self._auth = (query, headers, expires)
            return query, headers

    def get(self, name: str, target: str, size: int = -1) -> None:
        """Write blob ``name`` to the file ``target`` (``size``, if known, picks how to read it)."""
        auth = self._prepare() if self.raw else None
        if auth is None:
            with open(target, "wb") as handle:
                self.container.download_blob(name).readinto(handle)
            return
        query, headers = auth
        small = 0 <= size <= SMALL_BLOB
        with open(target, "wb") as handle:  # first: a missing folder fails before any request
            response = http_pool().request("GET", f"{self.base}/{quote(name)}{query}", headers=headers,
                                       preload_content=small)
            try:
                if response.status != 200:
                    detail = response.read(2000).decode("utf-8", errors="replace")
                    if response.status == 404:
                        raise ResourceNotFoundError(f"blob {name!r} was not found: {detail}")
                    raise HttpResponseError(f"GET {name!r} answered {response.status}: {detail}")
                if small:
                    handle.write(response.data)
                else:
                    for chunk in response.stream(1024 * 1024):
                        handle.write(chunk)
            finally:
                response.release_conn()


    def list(self, prefix: str) -> list[tuple[str, str, int]]:
        """(name, etag, size) of every blob whose name starts with ``prefix``, in name order (List Blobs)."""
        auth = self._prepare() if self.raw else None
        if auth is None:
            return [(b.name, str(b.etag).strip('"'), int(b.size or 0))
                    for b in self.container.list_blobs(name_starts_with=prefix or None)]
        query, headers = auth
        base = self.base
        found: list[tuple[str, str, int]] = []
        marker = ""
        while True:
            params = {"restype": "container", "comp": "list", "maxresults": "5000", "prefix": prefix,
                      "marker": marker}
            extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items() if v)
            url = f"{base}{query}{'&' if query else '?'}{extra}"
            response = http_pool().request("GET", url, headers=headers)
            if response.status != 200:
                raise HttpResponseError(f"listing {base} answered {response.status}: "
                                        f"{response.data[:2000].decode('utf-8', errors='replace')}")
            root = ElementTree.fromstring(response.data)
            for blob in root.iter("Blob"):
                props = blob.find("Properties")
                name = blob.find("Name")
                text = (name.text or "") if name is not None else ""
                if name is not None and name.get("Encoded") == "true":  # a name XML cannot carry
                    text = unquote(text)
                found.append((text,
                              (props.findtext("Etag") if props is not None else "") or "",
                              int((props.findtext("Content-Length") if props is not None else None) or 0)))
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return [(n, e.strip('"'), size) for n, e, size in found]


_getters: dict[str, BlobGetter] = {}


def fast_lister(container: ContainerClient, prefix: str) -> list[tuple[str, str, int]]:
    """A ``dataset_paths.Lister`` through ``BlobGetter.list`` (one getter per container URL in this process)."""
    key = container.url
    getter = _getters.get(key)
    if getter is None:
        getter = _getters[key] = BlobGetter(container)
    return getter.list(prefix)


_partials = itertools.count()


def fetch_whole(container: ContainerClient, f: DatasetFile, target: Path, getter: BlobGetter | None = None) -> Path:
    """Download once per host (shared by batches of one file); concurrent fetches rename atomically."""
    path = str(target)
    try:
        if os.stat(path).st_size == f.size:
            return target
    except FileNotFoundError:
        pass
    partial = f"{path}.{os.getpid()}-{next(_partials)}.partial"
    getter = getter or BlobGetter(container)
    try:
        try:
            getter.get(f.name, partial, f.size)
        except FileNotFoundError:  # its folder does not exist yet (the file is opened before the request)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            getter.get(f.name, partial, f.size)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return target


def fetch_batch(container_for: ContainerFor, batch: dict[str, Any], meta: dict[str, Any],
                root: Path, getter_for: Callable[[str], BlobGetter] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """The worker's payload for ``batch`` and the local files to delete once the batch is done."""
    files = [DatasetFile.from_dict(f) for f in batch["files"]]
    folder = safe_join(root, batch["input"], f"input {batch['input']!r}")
    if meta["type"] != "tabular":
        paths = [fetch_whole(container_for(f.datastore), f, local_path(folder, f),
                             getter_for(f.datastore) if getter_for else None) for f in files]
        return {"kind": "files", "paths": [str(p) for p in paths]}, paths
    parts: list[dict[str, Any]] = []
    cleanup: list[Path] = []
    for n, spec in enumerate(batch.get("parts") or [{"file": i} for i in range(len(files))]):
        f = files[spec["file"]]
        container = container_for(f.datastore)
        if "start" in spec:
            local = root / ".slices" / f"{batch['index']:08d}-{n}-{uuid.uuid4().hex[:6]}.csv"
            fetch_csv_slice(container, f, int(spec["start"]), int(spec["end"]),
                            bool(meta["format"].get("header", True)), local)
            cleanup.append(local)
        else:
            local = fetch_whole(container, f, local_path(folder, f), getter_for(f.datastore) if getter_for else None)
            if "row_groups" not in spec:
                cleanup.append(local)
        part = part_for(meta, f, local)
        if "row_groups" in spec:
            part["row_groups"] = spec["row_groups"]
        parts.append(part)
    return {"kind": "tabular", "parts": parts}, cleanup


def parquet_row_groups(container_for: ContainerFor) -> Callable[[DatasetFile], list[tuple[int, int]]]:
    """(rows, bytes) of each row group, read from the footer with a few ranged requests, not the whole file."""

    def read(f: DatasetFile) -> list[tuple[int, int]]:
        import pyarrow.parquet as pq

        raw = RangedBlob(container_for(f.datastore), f.name, f.size)
        meta = pq.ParquetFile(io.BufferedReader(raw, buffer_size=_PROBE)).metadata
        return [(meta.row_group(i).num_rows, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)]

    return read
