"""A step's outputs hold exactly one attempt's files, whichever attempt finishes the step.

Why: Durable Functions delivers an activity at least once. When the instance running
a step is lost (scale-in, a platform update, a killed host) the activity is delivered
again and the step runs again, but the lost attempt may already have uploaded part
of its outputs. Blob storage has no rename to stage and promote a folder, so every
blob an attempt uploads carries metadata naming the step run and the attempt; once an
attempt has uploaded its files, the blobs an earlier attempt of the same step run left
under the output's prefix are deleted. Consumers read an output only after its step's
row says Finished, so they see one attempt's files, each written once. Blobs of other
runs at a shared destination (``OutputFileDatasetConfig(destination=...)``) and blobs
without the metadata are never touched.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from pipeline_core.execution.storage_retry import NO_SDK_RETRY
from pipeline_core.storage.blobs import _pool, upload_folder

PRODUCER_KEY = "amliteproducer"
ATTEMPT_KEY = "amliteattempt"


def producer_id(run_id: str, step: str) -> str:
    """The step run's id in blob metadata (ASCII only; step names need not be)."""
    return hashlib.sha256(f"{run_id}\0{step}".encode()).hexdigest()[:32]


def attempt_metadata(run_id: str, step: str, attempt: int) -> dict[str, str]:
    return {PRODUCER_KEY: producer_id(run_id, step), ATTEMPT_KEY: str(attempt)}


def stale_blobs(container: ContainerClient, prefix: str, run_id: str, step: str, attempt: int) -> list[str]:
    """Blobs under ``prefix`` that another attempt of this step run wrote."""
    prefix = prefix.strip("/")
    producer = producer_id(run_id, step)
    found = []
    for blob in container.list_blobs(name_starts_with=prefix or None, include=["metadata"], **NO_SDK_RETRY):
        if prefix and blob.name != prefix and not blob.name.startswith(prefix + "/"):
            continue
        metadata = {k.lower(): v for k, v in (blob.metadata or {}).items()}
        if metadata.get(PRODUCER_KEY) == producer and metadata.get(ATTEMPT_KEY) != str(attempt):
            found.append(blob.name)
    return found


def upload_attempt(container: ContainerClient, folder: Path, prefix: str, run_id: str, step: str,
                   attempt: int, etags: dict[str, str] | None = None) -> int:
    """Upload ``folder`` to ``prefix`` as this attempt's output, then drop what earlier attempts left there.

    Safe to repeat (a retry after a storage outage): uploads overwrite, deletes of gone blobs are no-ops.
    Returns the number of files of this attempt; ``etags`` receives each upload's ETag (reuse verifies them).
    """
    count = upload_folder(container, folder, prefix, etags=etags, metadata=attempt_metadata(run_id, step, attempt),
                          **NO_SDK_RETRY)

    def delete(name: str) -> None:
        try:
            container.delete_blob(name, **NO_SDK_RETRY)
        except ResourceNotFoundError:
            pass

    list(_pool.map(delete, stale_blobs(container, prefix, run_id, step, attempt)))
    return count
