"""Bringing one mini-batch's data to this host, and reading parquet footers for partitioning.

Only what a batch needs is downloaded: its files, or for a slice of a big
delimited file just the header line plus the bytes of its rows (found with
ranged reads), so a 1MB batch of a 10GB CSV moves about 1MB. What the worker
receives is the local payload: file paths, or reader parts for a DataFrame.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from pipeline_core.data.dataset_paths import ContainerFor, DatasetFile
from pipeline_core.data.tabular_dataset import part_for
from pipeline_core.storage.blobs import list_prefix

_PROBE = 64 * 1024


def location_files(container: ContainerClient, datastore: str, prefix: str) -> list[DatasetFile]:
    """The blobs of a folder-shaped input (pipeline data, DataReference) as dataset files relative to it."""
    prefix = prefix.strip("/")
    files = []
    for name, etag, size in list_prefix(container, prefix):
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


def fetch_whole(container: ContainerClient, f: DatasetFile, target: Path) -> Path:
    """Download once per host (shared by batches of one file); concurrent fetches rename atomically."""
    if target.exists() and target.stat().st_size == f.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.partial")
    with open(partial, "wb") as handle:
        container.download_blob(f.name).readinto(handle)
    partial.replace(target)
    return target


def fetch_batch(container_for: ContainerFor, batch: dict[str, Any], meta: dict[str, Any],
                root: Path) -> tuple[dict[str, Any], list[Path]]:
    """The worker's payload for ``batch`` and the local files to delete once the batch is done."""
    files = [DatasetFile.from_dict(f) for f in batch["files"]]
    folder = root / batch["input"]
    if meta["type"] != "tabular":
        paths = [fetch_whole(container_for(f.datastore), f, folder / f.relative) for f in files]
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
            local = fetch_whole(container, f, folder / f.relative)
            if "row_groups" not in spec:
                cleanup.append(local)
        part = part_for(meta, f, local)
        if "row_groups" in spec:
            part["row_groups"] = spec["row_groups"]
        parts.append(part)
    return {"kind": "tabular", "parts": parts}, cleanup


class _BlobFile(io.RawIOBase):
    """A read-only, seekable view of a blob through ranged reads (pyarrow reads a parquet footer this way)."""

    def __init__(self, container: ContainerClient, name: str, size: int):
        self._read = _reader(container, name)
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._pos)
        if length <= 0:
            return 0
        data = self._read(self._pos, length)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def parquet_row_groups(container_for: ContainerFor) -> Callable[[DatasetFile], list[tuple[int, int]]]:
    """(rows, bytes) of each row group, read from the footer with a few ranged requests, not the whole file."""

    def read(f: DatasetFile) -> list[tuple[int, int]]:
        import pyarrow.parquet as pq

        raw = _BlobFile(container_for(f.datastore), f.name, f.size)
        meta = pq.ParquetFile(io.BufferedReader(raw, buffer_size=_PROBE)).metadata
        return [(meta.row_group(i).num_rows, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)]

    return read
