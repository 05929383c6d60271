"""Server-side Blob copies (``Copy Blob`` / ``start_copy_from_url``): the storage service moves the bytes.

Why server-side: a DataTransferStep may move gigabytes between containers or
accounts; reading them through a Functions worker costs its memory, its network
and the step's time. The worker only sends one request per blob and reads the
copy's status until it ends.

The source is named by URL. The destination account must be allowed to read
it, so the URL carries a read-only SAS made from what the source client holds:
a user-delegation SAS when it signs in with Entra ID (keyless, across
accounts), a service SAS when it holds the account key, or the client's own
SAS. A source client with none of these is copied by its plain URL (a public
container, or the destination's own account with the same identity).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.blob import BlobClient, BlobSasPermissions, ContainerClient, generate_blob_sas

from pipeline_core.errors import AmliteError
from pipeline_core.storage.blobs import fingerprint, list_prefix

#: How long a source SAS stays valid: long enough for a large asynchronous copy to finish.
SAS_LIFETIME = timedelta(hours=8)
#: Seconds between status reads of a pending copy (only asynchronous, cross-account copies are pending).
POLL_INTERVAL = 0.5

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CopiedBlob:
    source: str
    destination: str
    size: int
    copy_id: str


@dataclass
class CopyResult:
    files: list[CopiedBlob] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def source_url(blob: BlobClient, lifetime: timedelta = SAS_LIFETIME) -> str:
    """The blob's URL with a read-only SAS the destination account can use, made from the client's credential."""
    if "sig=" in blob.url:
        return blob.url
    credential: Any = blob.credential
    now = datetime.now(UTC)
    if credential is not None and getattr(credential, "account_key", None):
        sas = generate_blob_sas(blob.account_name or "", blob.container_name, blob.blob_name,
                                account_key=credential.account_key, permission=BlobSasPermissions(read=True),
                                start=now - timedelta(minutes=5), expiry=now + lifetime)
        return f"{blob.url}?{sas}"
    if credential is not None and hasattr(credential, "get_token"):
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(f"{blob.scheme}://{blob.primary_hostname}", credential=credential)
        key = service.get_user_delegation_key(now - timedelta(minutes=5), now + lifetime)
        sas = generate_blob_sas(blob.account_name or "", blob.container_name, blob.blob_name,
                                user_delegation_key=key, permission=BlobSasPermissions(read=True),
                                start=now - timedelta(minutes=5), expiry=now + lifetime)
        return f"{blob.url}?{sas}"
    return blob.url


def _targets(source: ContainerClient, source_path: str, destination_path: str,
             destination_is_directory: bool) -> list[tuple[str, str, int]]:
    """(source blob, destination blob, size) pairs: one file, or every blob under a folder."""
    source_path = source_path.strip("/")
    destination_path = destination_path.strip("/")
    blobs = list_prefix(source, source_path)
    if not blobs:
        raise AmliteError(f"no blobs found at {source_path!r} in container {source.container_name!r}; "
                          "upload the data first or fix the source path")
    single = len(blobs) == 1 and blobs[0][0] == source_path and source_path != ""
    pairs = []
    for name, _etag, size in blobs:
        if single:
            base = name.rsplit("/", 1)[-1]
            target = f"{destination_path}/{base}" if destination_is_directory or not destination_path else destination_path
        else:
            relative = name[len(source_path):].lstrip("/") if source_path else name
            target = f"{destination_path}/{relative}" if destination_path else relative
        pairs.append((name, target, size))
    return pairs


def copy_blobs(source: ContainerClient, source_path: str, destination: ContainerClient, destination_path: str,
               *, destination_is_directory: bool = False, progress: Progress | None = None,
               poll_interval: float = POLL_INTERVAL, timeout: float | None = None,
               metadata: dict[str, str] | None = None) -> CopyResult:
    """Copy a blob or a folder of blobs server-side and return once every copy has ended.

    A single blob lands at ``destination_path`` (or ``destination_path/<name>`` with
    ``destination_is_directory``); a folder keeps its layout under ``destination_path``.
    ``progress(copied_bytes, total_bytes)`` is called as copies advance. A failed or
    aborted copy raises, naming the blob and the service's reason; an exception out of ``progress``
    (a canceled step) aborts the copies still pending and goes on up. ``metadata`` replaces the
    copies' metadata (a step's attempt tag); without it they keep the source's.
    """
    pairs = _targets(source, source_path, destination_path, destination_is_directory)
    total = sum(size for _s, _d, size in pairs)
    started: list[tuple[str, BlobClient, int, str]] = []
    for name, target, size in pairs:
        client = destination.get_blob_client(target)
        answer = client.start_copy_from_url(source_url(source.get_blob_client(name)), metadata=metadata)
        started.append((name, client, size, str(answer.get("copy_id") or "")))
    done: dict[str, int] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    result = CopyResult()
    pending = list(started)
    while True:
        still = []
        for name, client, size, copy_id in pending:
            copy = client.get_blob_properties().copy
            copied = _copied_bytes(copy.progress, size)
            if copy.status in (None, "success"):
                done[name] = size
                result.files.append(CopiedBlob(name, client.blob_name, size, copy_id))
            elif copy.status == "pending":
                done[name] = copied
                still.append((name, client, size, copy_id))
            else:
                raise AmliteError(f"copy of {name!r} to {client.blob_name!r} ended {copy.status}: "
                                  f"{copy.status_description or 'no reason given'}")
        if progress is not None:
            try:
                progress(sum(done.values()), total)
            except BaseException:  # the caller stops the copy (a canceled step): no copy goes on without it
                _abort(still)
                raise
        if not still:
            return result
        if deadline is not None and time.monotonic() > deadline:
            _abort(still)
            raise AmliteError(f"{len(still)} blob copies did not finish within {timeout} s and were aborted")
        pending = still
        time.sleep(poll_interval)


def _abort(pending: list[tuple[str, BlobClient, int, str]]) -> None:
    for _name, client, _size, copy_id in pending:
        try:
            client.abort_copy(copy_id)
        except Exception:  # noqa: BLE001 - it may have just ended; nothing more to stop
            pass


def _copied_bytes(progress: str | None, size: int) -> int:
    """Bytes copied so far from the service's ``copied/total`` progress string."""
    if not progress or "/" not in progress:
        return 0
    try:
        return int(progress.split("/", 1)[0])
    except ValueError:
        return 0


def blob_identity(container: ContainerClient, path: str) -> str:
    """A reuse key for the blobs at ``path``: changes when any blob's ETag, name or size changes."""
    digest, count = fingerprint(container, path)
    if not count:
        raise AmliteError(f"no blobs found at {path!r} in container {container.container_name!r}")
    return f"blob:{digest}"
