"""Folder-shaped Blob operations: upload a folder, download a prefix, fingerprint a prefix.

Why here: step inputs and outputs are folders, and both the executor and the
SDK (``get_output_data().download``) need the same path rules: a prefix that
names a single blob downloads as that file; otherwise as a folder. A blob name
is never trusted as a path: each goes through ``safe_paths.safe_join``.
"""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceExistsError

from pipeline_core.safe_paths import safe_join

if TYPE_CHECKING:  # imported where blobs are used: a command reading run rows never loads the Blob SDK
    from azure.storage.blob import ContainerClient

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="amlite-blob")


def list_prefix(container: ContainerClient, prefix: str) -> list[tuple[str, str, int]]:
    """(name, etag, size) of every blob at ``prefix`` exactly or under ``prefix/``."""
    prefix = prefix.strip("/")
    found: list[tuple[str, str, int]] = []
    for blob in container.list_blobs(name_starts_with=prefix or None):
        name = blob.name
        if not prefix or name == prefix or name.startswith(prefix + "/"):
            found.append((name, str(blob.etag).strip('"'), int(blob.size or 0)))
    return found


def fingerprint(container: ContainerClient, prefix: str) -> tuple[str, int]:
    """A hash of the names and ETags under ``prefix``, and the blob count: changes whenever any blob changes."""
    digest = hashlib.sha256()
    blobs = list_prefix(container, prefix)
    for name, etag, size in blobs:
        digest.update(f"{name}\0{etag}\0{size}\n".encode())
    return digest.hexdigest(), len(blobs)


def download_prefix(container: ContainerClient, prefix: str, target: Path, overwrite: bool = True,
                    keep_prefix: bool = False) -> int:
    """Download ``prefix`` into ``target``. A prefix naming one blob becomes ``target/<basename>``.

    ``keep_prefix`` keeps the full blob path below ``target`` (``Datastore.download``);
    otherwise paths are relative to the prefix (step inputs).
    """
    prefix = prefix.strip("/")
    blobs = list_prefix(container, prefix)
    target.mkdir(parents=True, exist_ok=True)

    def destination(name: str) -> Path:
        if keep_prefix:
            rel = name
        elif name == prefix:
            rel = name.rsplit("/", 1)[-1]
        else:
            rel = name[len(prefix) + 1:] if prefix else name
        return safe_join(target, rel, f"blob {name!r} in container {container.container_name!r}")

    # Every name is checked before anything is written: a hostile blob refuses the whole download.
    planned = [(name, destination(name)) for name, _, _ in blobs]

    def fetch(item: tuple[str, Path]) -> None:
        name, dest = item
        if dest.exists() and not overwrite:
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as handle:
            container.download_blob(name).readinto(handle)

    list(_pool.map(fetch, planned))
    return len(blobs)


def upload_folder(container: ContainerClient, folder: Path, prefix: str, etags: dict[str, str] | None = None,
                  **options: Any) -> int:
    """Upload every file under ``folder`` to ``prefix/<relative path>``, overwriting; returns the count.

    ``etags``, if given, receives blob name -> the ETag each upload got back (what reuse later verifies).
    ``options`` go to every ``upload_blob`` (a step output sets ``metadata`` naming the attempt that wrote
    it, and ``retry_total=0`` because the step retries on its own schedule).
    """
    prefix = prefix.strip("/")
    files = [p for p in folder.rglob("*") if p.is_file()]

    def put(path: Path) -> None:
        name = f"{prefix}/{path.relative_to(folder).as_posix()}"
        with open(path, "rb") as handle:
            answer = container.get_blob_client(name).upload_blob(handle, overwrite=True, **options)
        if etags is not None:
            etags[name] = str(answer.get("etag") or "").strip('"')

    list(_pool.map(put, files))
    return len(files)


def put_if_absent(container: ContainerClient, name: str, data: bytes) -> bool:
    """Upload unless the blob exists (content-addressed blobs never change); True if uploaded now."""
    try:
        container.upload_blob(name, data, overwrite=False)
        return True
    except ResourceExistsError:
        return False


class RangedBlob(io.RawIOBase):
    """A read-only, seekable view of a blob through ranged GETs, so a reader that only needs a file's
    directory or footer (a zip's central directory, a parquet footer) never downloads the whole blob."""

    def __init__(self, container: ContainerClient, name: str, size: int):
        self._container = container
        self._name = name
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
        data = self._container.download_blob(self._name, offset=self._pos, length=length).readall()
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)
