"""A write-only file over a block blob: bytes are staged as blocks as they come, committed by ``commit()``.

Why: a database export can be larger than the worker's memory or disk; a
writer (csv, pyarrow's ParquetWriter) writes into this file and at most one
block is ever held in memory. Nothing is visible at the blob's name until
``commit()`` commits the block list, so a failed export leaves no half file.
"""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from azure.storage.blob import BlobBlock, BlobClient

#: Bytes per staged block (about): well under the service's 4000 MiB limit, a few requests per 100 MiB.
BLOCK_SIZE = 8 * 1024 * 1024


class BlockBlobWriter(io.RawIOBase):
    def __init__(self, blob: BlobClient, block_size: int | None = None, metadata: dict[str, str] | None = None):
        self._blob = blob
        self._block_size = block_size or BLOCK_SIZE
        self._pending: list[bytes] = []  # written pieces not staged yet; joined once per block
        self._pending_size = 0
        self._blocks: list[BlobBlock] = []
        self._position = 0
        self._prefix = uuid.uuid4().hex[:16]
        self._metadata = metadata  # set on the blob at commit (a step's attempt tag)
        self.committed = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def write(self, data: Any) -> int:
        piece = bytes(data)
        self._pending.append(piece)
        self._pending_size += len(piece)
        self._position += len(piece)
        if self._pending_size >= self._block_size:
            self._flush_pending()
        return len(piece)

    def _flush_pending(self) -> None:
        """Stage the pending pieces as one block (so about two blocks' worth is the most ever held)."""
        if self._pending:
            block = b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._stage(block)

    def _stage(self, chunk: bytes) -> None:
        block_id = base64.b64encode(f"{self._prefix}-{len(self._blocks):08d}".encode()).decode()
        self._blob.stage_block(block_id, chunk, length=len(chunk))
        self._blocks.append(BlobBlock(block_id=block_id))

    def commit(self) -> None:
        """Stage what is left and commit the blob (an empty blob when nothing was written)."""
        if self.closed:
            raise ValueError("commit() after close(): the blob was abandoned")
        self._flush_pending()
        self._blob.commit_block_list(self._blocks, metadata=self._metadata)
        self.committed = True
        super().close()

    def close(self) -> None:
        """Close without committing (also what garbage collection does to an unfinished writer): nothing
        appears at the blob's name, and the service drops the staged blocks after a week."""
        self._pending.clear()
        super().close()
