"""A ParallelRunStep's outputs: append_row rows staged as blocks of the output file, and ``output_dir`` uploads.

append_row without passing rows around: the workers append each mini-batch's
rows to their slice's local spool file (no file per mini-batch: creating a
file costs more than a trivial ``run()``), and each slice flush stages the rows of
the mini-batches it records as uncommitted blocks (Put Block) of the output
file itself (``{output}/parallel_run_step.txt``), with block ids derived from
that flush (``{flush id}-{part}``); the ledger row of each succeeded
mini-batch names its flush. ``prs_finish`` commits the flushes the ledger
names, in mini-batch order, with one Put Block List: the file appears at once,
assembled inside the storage service, with nothing copied or deleted and no
row passing through an orchestrator or through this process twice. Blocks a
losing redelivery staged are simply not in the list, and the service drops
them. (A re-run of ``prs_finish`` commits the same list again: idempotent.)

``output_dir``: AML mounts the output folder, so files a script writes there
simply appear. Here the folder is local to the host; at each slice flush the
files that are new or changed since the last upload (by size and mtime) go to
the step's output location, and once more when the host's pool closes. A file
named like the append_row file is not uploaded: it would replace the rows.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from azure.storage.blob import BlobBlock, BlobClient, ContainerClient

log = logging.getLogger("amlite.parallel")

BLOCK_BYTES = 64 * 1024 * 1024  # staged per Put Block; the service allows up to 4000 MiB
MAX_BLOCKS = 50_000  # Blob storage's limit of committed blocks per blob
FLUSH_ID_CHARS = 20  # every block id of one blob must have the same length


def block_id(flush: str, part: int) -> str:
    return base64.b64encode(f"{flush:>{FLUSH_ID_CHARS}}-{part:05d}".encode()).decode()


def stage_rows(target: BlobClient, flush: str, spool: Path, ranges: list[tuple[int, int]]) -> int:
    """Stage the ``(offset, length)`` ranges of ``spool``, in order, as blocks ``flush``-0, -1, ...; how many."""
    parts = 0
    buffer = bytearray()

    def put() -> None:
        nonlocal parts
        target.stage_block(block_id(flush, parts), bytes(buffer))
        parts += 1
        buffer.clear()

    with open(spool, "rb") as handle:
        for offset, length in ranges:
            handle.seek(offset)
            while length > 0:
                chunk = handle.read(min(length, BLOCK_BYTES - len(buffer)))
                if not chunk:
                    raise RuntimeError(f"the rows spool {spool} is shorter than recorded")
                buffer.extend(chunk)
                length -= len(chunk)
                if len(buffer) >= BLOCK_BYTES:
                    put()
    if buffer:
        put()
    return parts


def commit_rows(target: BlobClient, flushes: list[tuple[str, int]]) -> int:
    """Make ``target`` the staged blocks of ``flushes`` (in order); returns how many blocks were committed."""
    blocks = [BlobBlock(block_id=block_id(flush, part)) for flush, parts in flushes for part in range(parts)]
    if len(blocks) > MAX_BLOCKS:
        raise RuntimeError(f"{len(blocks)} row blocks exceed Blob storage's {MAX_BLOCKS} blocks per blob; "
                           "use a larger mini_batch_size")
    if not blocks:
        target.upload_blob(b"", overwrite=True)
        return 0
    target.commit_block_list(blocks)
    return len(blocks)


class OutputSync:
    def __init__(self, container: ContainerClient, folder: Path, prefix: str, reserved: Iterable[str] = ()):
        self.container = container
        self.folder = folder
        self.prefix = prefix.strip("/")
        self.reserved = set(reserved)
        self._seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def sync(self) -> int:
        """Upload new or changed files; returns how many were uploaded."""
        with self._lock:
            uploaded = 0
            for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
                rel = path.relative_to(self.folder).as_posix()
                stat = path.stat()
                state = (stat.st_size, stat.st_mtime_ns)
                if self._seen.get(rel) == state:
                    continue
                self._seen[rel] = state
                if rel in self.reserved:
                    log.warning("not uploading %s from output_dir: the append_row output has that name", rel)
                    continue
                with open(path, "rb") as handle:
                    self.container.upload_blob(f"{self.prefix}/{rel}", handle, overwrite=True)
                uploaded += 1
            return uploaded
