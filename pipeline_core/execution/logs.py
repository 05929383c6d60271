"""Step logs: written locally as the process runs, streamed to ``logs/{run}/{step}/std_log.txt``.

Why an append blob flushed every second: ``wait_for_completion(show_output=True)``
and ``amlite logs`` on another machine read the blob while the step still
runs. A step that ends within the first second costs one upload, not a stream.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

from azure.storage.blob import ContainerClient

from pipeline_core.storage.blobs import _pool
from pipeline_core.storage.run_signals import SIGNALS

LOGS_CONTAINER = "logs"
STD_LOG = "std_log.txt"
DRIVER_LOG = "70_driver_log.txt"
STDOUT_LOG = "stdout.txt"
STDERR_LOG = "stderr.txt"


def log_blob_name(run_id: str, step: str, file: str = STD_LOG) -> str:
    return f"{run_id}/{step}/{file}"


class StepLog:
    """Collects a step's combined output; keeps the stderr tail for the error message."""

    def __init__(self, container: ContainerClient, run_id: str, step: str, path: Path, tail_lines: int = 30):
        self.container = container
        self.blob = container.get_blob_client(log_blob_name(run_id, step))
        self.driver_blob = log_blob_name(run_id, step, DRIVER_LOG)
        self.path = path
        self._file = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._streams: dict[bool, bytearray] = {False: bytearray(), True: bytearray()}
        self.run_id, self.step = run_id, step
        self._lock = threading.Lock()
        self._flushed = 0
        self._created = False
        self.stderr_tail: deque[str] = deque(maxlen=tail_lines)
        self._stop = threading.Event()
        self.closed = False
        self._flusher = threading.Thread(target=self._flush_loop, name=f"log-{step}", daemon=True)
        self._flusher.start()

    def write(self, data: bytes, stderr: bool = False) -> None:
        with self._lock:
            self._file.write(data)
            self._file.flush()
            self._streams[stderr] += data
        if stderr:
            for line in data.decode("utf-8", errors="replace").splitlines():
                self.stderr_tail.append(line)

    def note(self, text: str) -> None:
        self.write((text.rstrip("\n") + "\n").encode())

    def _flush_loop(self) -> None:
        while not self._stop.wait(1.0):
            self._flush()

    def _flush(self) -> None:
        size = self.path.stat().st_size
        if size <= self._flushed:
            return
        with open(self.path, "rb") as handle:
            handle.seek(self._flushed)
            chunk = handle.read(size - self._flushed)
        if not self._created:
            self.blob.upload_blob(chunk, blob_type="AppendBlob", overwrite=True)
            self._created = True
        else:
            for start in range(0, len(chunk), 4 * 1024 * 1024):
                self.blob.append_block(chunk[start:start + 4 * 1024 * 1024])
        self._flushed += len(chunk)
        SIGNALS.changed(self.run_id)

    def close(self) -> None:
        """Stop streaming and upload what is left, plus the AML-style driver log copy."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        self._flusher.join()
        with self._lock:
            self._file.close()
        data = self.path.read_bytes()
        extra = [_pool.submit(self.container.upload_blob, self.driver_blob, data, overwrite=True)]
        for is_err, name in ((False, STDOUT_LOG), (True, STDERR_LOG)):
            if self._streams[is_err]:
                extra.append(_pool.submit(self.container.upload_blob, log_blob_name(self.run_id, self.step, name),
                                          bytes(self._streams[is_err]), overwrite=True))
        if self._created:
            self._flush()
        else:  # the step ended before the first flush: one block-blob upload instead of create + append
            self.blob.upload_blob(data, overwrite=True)
        for future in extra:
            future.result()

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail)
