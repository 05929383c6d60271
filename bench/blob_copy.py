"""Server-side blob copy (DataTransferStep) against copying through the worker (download + upload).

Run: `python bench/blob_copy.py [MiB]` (default 256; the issue's figure is 1024). Azurite is
reused or started. Both copies run in the same process against the same account, so the
ratio holds on any machine; the bytes the copying client moved are counted from its HTTP
traffic (request bodies and response Content-Length), which is the claim that matters:
the server-side copy moves none of the blob's bytes through the worker.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

os.environ.setdefault("AMLITE_QUIET", "1")

from azure.storage.blob import BlobServiceClient  # noqa: E402

from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402
from pipeline_core.transfer import copy_blobs  # noqa: E402

MIB = 1024 * 1024


class Traffic:
    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, response) -> None:  # type: ignore[no-untyped-def]
        body = response.http_request.body
        self.bytes += len(body) if isinstance(body, bytes | bytearray) else 0
        if response.http_request.method != "HEAD":
            self.bytes += int(response.http_response.headers.get("Content-Length") or 0)


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    azurite = ensure_azurite(temporary=True)
    try:
        setup = BlobServiceClient.from_connection_string(azurite.connection_string)
        names = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(3)]
        source, server_side, through = (setup.create_container(n) for n in names)
        block = os.urandom(MIB)
        source.upload_blob("data.bin", (block for _ in range(size)), length=size * MIB, max_concurrency=4)

        traffic = Traffic()
        worker = BlobServiceClient.from_connection_string(azurite.connection_string, raw_response_hook=traffic)
        started = time.perf_counter()
        copy_blobs(worker.get_container_client(names[0]), "data.bin", worker.get_container_client(names[1]), "data.bin")
        copy_seconds, copy_bytes = time.perf_counter() - started, traffic.bytes

        traffic.bytes = 0
        started = time.perf_counter()
        with tempfile.TemporaryFile() as spool:  # what a copy through the worker does: download, then upload
            worker.get_container_client(names[0]).download_blob("data.bin", max_concurrency=4).readinto(spool)
            spool.seek(0)
            worker.get_container_client(names[2]).upload_blob("data.bin", spool, length=size * MIB, max_concurrency=4)
        through_seconds, through_bytes = time.perf_counter() - started, traffic.bytes

        print(f"{size} MiB blob, Azurite")
        print(f"  server-side copy : {copy_seconds:7.2f} s, {copy_bytes / MIB:9.3f} MiB through the worker")
        print(f"  download + upload: {through_seconds:7.2f} s, {through_bytes / MIB:9.3f} MiB through the worker")
        print(f"  speed-up {through_seconds / copy_seconds:.1f}x")
        for name in names:
            setup.delete_container(name)
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
