"""A prepared ParallelRunStep in Blob storage: its plan, its batch list, its row blobs, and their concatenation.

Why blobs: an orchestrator must pass references, never data. The plan
(resolved config, input formats, argument tokens) and the batch list live
under ``pipelinedata/{run}/{step}/.prs/``, written once by ``prs_prepare``; the
batch list is split into chunks of 1,000 so a batch activity reads only its
chunk. ``plan.json`` is written last: its presence means the rest is complete.
The leading dot keeps these names apart from outputs, whose names are
identifiers.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobClient, BlobSasPermissions, ContainerClient, generate_blob_sas

PRS_CONTAINER = "pipelinedata"
CHUNK = 1000
BLOCK_BYTES = 100 * 1024 * 1024  # Put Block From URL moves at most this much per block here
MAX_BLOCKS = 50_000  # Blob storage's limit of committed blocks per blob

_cache_lock = threading.Lock()
_plans: dict[tuple[str, str, str], dict[str, Any]] = {}
_chunks: OrderedDict[tuple[str, str, str, int], list[dict[str, Any]]] = OrderedDict()


def prefix(run_id: str, step: str) -> str:
    return f"{run_id}/{step}/.prs"


def rows_blob_name(run_id: str, step: str, index: int, token: str) -> str:
    return f"{prefix(run_id, step)}/rows/{index:08d}-{token}.txt"


def write_plan(container: ContainerClient, run_id: str, step: str, plan: dict[str, Any],
               batches: list[dict[str, Any]]) -> None:
    base = prefix(run_id, step)
    for start in range(0, len(batches), CHUNK):
        data = json.dumps(batches[start:start + CHUNK], separators=(",", ":")).encode()
        container.upload_blob(f"{base}/batches/{start // CHUNK:06d}.json", data, overwrite=True)
    body = {**plan, "batches": len(batches), "chunk": CHUNK}
    container.upload_blob(f"{base}/plan.json", json.dumps(body, sort_keys=True).encode(), overwrite=True)


def read_plan(container: ContainerClient, run_id: str, step: str) -> dict[str, Any] | None:
    """The plan, or None if the step was never prepared; plans never change, so each host reads one once."""
    key = (container.url, run_id, step)
    with _cache_lock:
        if key in _plans:
            return _plans[key]
    try:
        plan: dict[str, Any] = json.loads(container.download_blob(f"{prefix(run_id, step)}/plan.json").readall())
    except ResourceNotFoundError:
        return None
    with _cache_lock:
        _plans[key] = plan
    return plan


def read_batch(container: ContainerClient, run_id: str, step: str, index: int) -> dict[str, Any]:
    chunk = index // CHUNK
    key = (container.url, run_id, step, chunk)
    with _cache_lock:
        cached = _chunks.get(key)
        if cached is not None:
            _chunks.move_to_end(key)
    if cached is None:
        data = container.download_blob(f"{prefix(run_id, step)}/batches/{chunk:06d}.json").readall()
        cached = json.loads(data)
        with _cache_lock:
            _chunks[key] = cached
            while len(_chunks) > 32:
                _chunks.popitem(last=False)
    return cached[index % CHUNK]


def forget(container: ContainerClient, run_id: str, step: str) -> None:
    """Drop this host's cached plan and chunks of a finished step."""
    with _cache_lock:
        _plans.pop((container.url, run_id, step), None)
        for key in [k for k in _chunks if k[:3] == (container.url, run_id, step)]:
            _chunks.pop(key, None)


def _source(blob: BlobClient) -> tuple[str, dict[str, Any]]:
    """A URL the service can read the source from, and the keyword that authorizes it."""
    credential = blob.credential
    key = getattr(credential, "account_key", None)
    if key:
        sas = generate_blob_sas(account_name=credential.account_name, container_name=blob.container_name,
                                blob_name=blob.blob_name, account_key=key, permission=BlobSasPermissions(read=True),
                                expiry=datetime.now(timezone.utc) + timedelta(hours=2))
        return f"{blob.url}?{sas}", {}
    if hasattr(credential, "get_token"):  # Entra ID: the service reads the source with our bearer token
        token = credential.get_token("https://storage.azure.com/.default").token
        return blob.url, {"source_authorization": f"Bearer {token}"}
    return blob.url, {}  # a SAS is already in the URL


def _block_id(n: int) -> str:
    return base64.b64encode(f"amlite-{n:010d}".encode()).decode()


def concat_blobs(source: ContainerClient, names: list[tuple[str, int]], target: BlobClient) -> int:
    """Concatenate ``(name, size)`` blobs of ``source`` into ``target`` server-side; returns the bytes written.

    Put Block From URL copies each range inside the storage service, so no row
    data passes through this process; Commit Block List makes the result appear
    at once (a re-run commits the same list again, so this is idempotent).
    """
    ranges: list[tuple[str, int, int]] = []
    for name, size in names:
        for offset in range(0, size, BLOCK_BYTES):
            ranges.append((name, offset, min(BLOCK_BYTES, size - offset)))
    if len(ranges) > MAX_BLOCKS:
        raise RuntimeError(f"{len(ranges)} row blocks exceed Blob storage's {MAX_BLOCKS} blocks per blob; "
                           "use a larger mini_batch_size")
    if not ranges:
        target.upload_blob(b"", overwrite=True)
        return 0

    def stage(item: tuple[int, tuple[str, int, int]]) -> str:
        n, (name, offset, length) = item
        url, auth = _source(source.get_blob_client(name))
        block = _block_id(n)
        target.stage_block_from_url(block, url, source_offset=offset, source_length=length, **auth)
        return block

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="amlite-concat") as pool:
        blocks = list(pool.map(stage, enumerate(ranges)))
    target.commit_block_list([BlobBlock(block_id=b) for b in blocks])
    return sum(r[2] for r in ranges)
