"""A prepared ParallelRunStep in Blob storage: its plan and its batch list, cached per host process.

Why blobs: an orchestrator must pass references, never data. The plan
(resolved config, input formats, argument tokens) and the batch list live
under ``pipelinedata/{run}/{step}/.prs/``, written once by ``prs_prepare``; the
batch list is split into chunks of 1,000 so a slice activity reads only the
chunks it covers. ``plan.json`` is written last: its presence means the rest
is complete. Both never change once written, so each host process reads them
once (``read_plan``/``read_batch`` cache them until ``forget``). The leading
dot keeps these names apart from outputs, whose names are identifiers.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

PRS_CONTAINER = "pipelinedata"
CHUNK = 1000
KEPT_CHUNKS = 32  # batch-list chunks a host keeps in memory (32,000 mini-batches' definitions)

_cache_lock = threading.Lock()
_plans: dict[tuple[str, str, str], dict[str, Any]] = {}
_chunks: OrderedDict[tuple[str, str, str, int], list[dict[str, Any]]] = OrderedDict()
_loading: dict[tuple[str, str, str, int], threading.Lock] = {}


def prefix(run_id: str, step: str) -> str:
    return f"{run_id}/{step}/.prs"


def write_plan(container: ContainerClient, run_id: str, step: str, plan: dict[str, Any],
               batches: list[dict[str, Any]]) -> None:
    base = prefix(run_id, step)
    chunks: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(batches), CHUNK):
        data = json.dumps(batches[start:start + CHUNK], separators=(",", ":")).encode()
        container.upload_blob(f"{base}/batches/{start // CHUNK:06d}.json", data, overwrite=True)
        chunks[start // CHUNK] = json.loads(data)  # what a reader of the blob gets: plain JSON values
    body = {**plan, "batches": len(batches), "chunk": CHUNK}
    text = json.dumps(body, sort_keys=True)
    container.upload_blob(f"{base}/plan.json", text.encode(), overwrite=True)
    # The slices on this host read what was just written from memory, not back from storage (1,000 mini-batches
    # on the local engine parsed their batch list once per slice that missed the cache).
    with _cache_lock:
        _plans[(container.url, run_id, step)] = json.loads(text)
        for number, batch_list in list(chunks.items())[:KEPT_CHUNKS]:
            _keep_chunk((container.url, run_id, step, number), batch_list)


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


def _keep_chunk(key: tuple[str, str, str, int], batch_list: list[dict[str, Any]]) -> None:
    """Cache one chunk of a batch list, the oldest going past ``KEPT_CHUNKS``. The caller holds ``_cache_lock``."""
    _chunks[key] = batch_list
    while len(_chunks) > KEPT_CHUNKS:
        _chunks.popitem(last=False)


def read_batch(container: ContainerClient, run_id: str, step: str, index: int) -> dict[str, Any]:
    chunk = index // CHUNK
    key = (container.url, run_id, step, chunk)
    with _cache_lock:
        cached = _chunks.get(key)
        if cached is not None:
            _chunks.move_to_end(key)
            return cached[index % CHUNK]
        loading = _loading.setdefault(key, threading.Lock())
    with loading:  # one download and parse per chunk, however many slices start on it at once
        with _cache_lock:
            cached = _chunks.get(key)
        if cached is None:
            data = container.download_blob(f"{prefix(run_id, step)}/batches/{chunk:06d}.json").readall()
            cached = json.loads(data)
            with _cache_lock:
                _keep_chunk(key, cached)
    with _cache_lock:
        _loading.pop(key, None)
    return cached[index % CHUNK]


def forget(container: ContainerClient, run_id: str, step: str) -> None:
    """Drop this host's cached plan and chunks of a finished step."""
    with _cache_lock:
        _plans.pop((container.url, run_id, step), None)
        for key in [k for k in _chunks if k[:3] == (container.url, run_id, step)]:
            _chunks.pop(key, None)
