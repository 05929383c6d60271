"""Step logs: written locally as the process runs, streamed to ``logs/{run}/{step}/std_log.txt``.

Why an append blob flushed every second: ``wait_for_completion(show_output=True)``
and ``amlite logs`` on another machine read the blob while the step still
runs. A step that ends within the first second costs one upload, not a stream.
Until the process prints, the log holds amlite's own lines only, and those are
first streamed after ``QUIET_FIRST_FLUSH_SECONDS``: in a wide fan-out on a busy
host most steps outlive a second, and a stream (create, then append) costs two
requests more than the one upload at the end.

The local file is the log; the blob is a copy of its first ``_flushed`` bytes. So a
storage outage costs nothing: a flush that fails is tried again a second later, and
after a failure whose outcome is unknown (the append may have landed) the blob's
length says where to go on, so no line is lost or written twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from pipeline_core.execution.storage_retry import NO_SDK_RETRY, retry_storage
from pipeline_core.storage.blobs import _pool
from pipeline_core.storage.run_signals import SIGNALS

if TYPE_CHECKING:  # imported where blobs are used: a command reading run rows never loads the Blob SDK
    from azure.storage.blob import ContainerClient

log = logging.getLogger("amlite.engine")

LOGS_CONTAINER = "logs"
ATTEMPT_METADATA = "amliteattempt"
STD_LOG = "std_log.txt"
DRIVER_LOG = "70_driver_log.txt"
STDOUT_LOG = "stdout.txt"
STDERR_LOG = "stderr.txt"
#: How long a log that holds only amlite's own lines (the process has printed nothing) waits for its first flush.
QUIET_FIRST_FLUSH_SECONDS = 5.0


def log_blob_name(run_id: str, step: str, file: str = STD_LOG) -> str:
    return f"{run_id}/{step}/{file}"


def step_log_blob_name(row: dict[str, Any], run_id: str, step: str, file: str = STD_LOG) -> str:
    """Where a step's log is: a reused step ran nowhere, so its log is the run that produced its outputs' (AML
    shows the original run's log for a reused step)."""
    if row.get("is_reused") and row.get("reused_run_id"):
        return log_blob_name(str(row["reused_run_id"]), str(row.get("reused_step") or step), file)
    return log_blob_name(run_id, step, file)


class StepLog:
    """Collects a step's combined output; keeps the stderr tail for the error message."""

    def __init__(self, container: ContainerClient, run_id: str, step: str, path: Path, tail_lines: int = 30,
                 retry_seconds: float = 300.0, attempt: int = 0):
        self.container = container
        self.blob = container.get_blob_client(log_blob_name(run_id, step))
        self.driver_blob = log_blob_name(run_id, step, DRIVER_LOG)
        self.path = path
        self._file = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._streams: dict[bool, bytearray] = {False: bytearray(), True: bytearray()}
        self._printed = False  # the process wrote something (amlite's notes alone wait longer to stream)
        self._opened = time.monotonic()
        self.run_id, self.step = run_id, step
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flushed = 0
        self._created = False
        self._unsure = False  # the last flush failed: re-read the blob's length before the next one
        self._failing_since: float | None = None
        self.retry_seconds = retry_seconds
        self.attempt = attempt  # the blob records it, so a superseded attempt never appends to a newer one's log
        self.superseded = False
        self.stderr_tail: deque[str] = deque(maxlen=tail_lines)
        self._stop = threading.Event()
        self.closed = False
        self._flusher = threading.Thread(target=self._flush_loop, name=f"log-{step}", daemon=True)
        self._flusher.start()

    def write(self, data: bytes, stderr: bool = False, *, stream: bool = True) -> None:
        """Append the process's output (to ``stdout.txt`` or ``stderr.txt`` too, unless ``stream`` is False)."""
        with self._lock:
            if self._file.closed:  # a late line (the process's last output, a watcher's note) after close
                return
            self._file.write(data)
            self._file.flush()
            if stream:
                self._streams[stderr] += data
                self._printed = self._printed or bool(data)
        if stderr and stream:
            for line in data.decode("utf-8", errors="replace").splitlines():
                self.stderr_tail.append(line)

    def note(self, text: str) -> None:
        """amlite's own line: in ``std_log.txt`` (and the driver log), not in the process's ``stdout.txt``, which
        holds what the step printed and nothing else (a step that printed nothing has none, and costs no upload)."""
        self.write((text.rstrip("\n") + "\n").encode(), stream=False)

    def _flush_loop(self) -> None:
        while not self._stop.wait(1.0):
            if not self._printed and time.monotonic() - self._opened < QUIET_FIRST_FLUSH_SECONDS:
                continue
            try:
                self._flush()
            except Exception as exc:  # storage out: the file keeps everything, the next flush catches up
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.warning("step %s of run %s: could not stream its log (%s: %s); retrying",
                                self.step, self.run_id, type(exc).__name__, exc)

    def _resync(self) -> None:
        """After an append whose outcome is unknown: continue from what our blob really holds."""
        try:
            properties = self.blob.get_blob_properties(**NO_SDK_RETRY)
        except ResourceNotFoundError:  # lost (an emulator restarted without its last writes): start again
            length = 0
        else:
            length = int(properties.size or 0)
            owner = {k.lower(): v for k, v in (properties.metadata or {}).items()}.get(ATTEMPT_METADATA)
            if self.attempt and owner not in (None, str(self.attempt)):
                self.superseded = True  # a newer attempt of the step owns the log now
        if 0 < length <= self.path.stat().st_size:
            self._flushed = length
        else:
            self._created, self._flushed = False, 0
        self._unsure = False

    def _flush(self) -> None:
        with self._flush_lock:
            for _ in range(3):
                try:
                    self._flush_once()
                    break
                except HttpResponseError as exc:
                    if exc.status_code != 412:  # 412: the blob is not as long as we thought; look again
                        raise
                    self._unsure = True
            if self._failing_since is not None:
                log.info("step %s of run %s: its log streams again after %.0f s", self.step, self.run_id,
                         time.monotonic() - self._failing_since)
                self._failing_since = None
        SIGNALS.changed(self.run_id)

    def _flush_once(self) -> None:
        if self._unsure and self._created:
            self._resync()
        if self.superseded:
            return
        size = self.path.stat().st_size
        if size <= self._flushed:
            return
        with open(self.path, "rb") as handle:
            handle.seek(self._flushed)
            chunk = handle.read(size - self._flushed)
        if not self._created:  # creating overwrites (a previous attempt's log too): safe to repeat
            self.blob.upload_blob(chunk, blob_type="AppendBlob", overwrite=True,
                                  metadata={ATTEMPT_METADATA: str(self.attempt)}, **NO_SDK_RETRY)
            self._created = True
            self._flushed += len(chunk)
            return
        self._unsure = True
        for start in range(0, len(chunk), 4 * 1024 * 1024):
            part = chunk[start:start + 4 * 1024 * 1024]
            self.blob.append_block(part, appendpos_condition=self._flushed, **NO_SDK_RETRY)
            self._flushed += len(part)
        self._unsure = False

    def close(self) -> None:
        """Stop streaming and upload what is left, plus the AML-style driver log copy."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        self._flusher.join()
        with self._lock:
            self._file.close()
        if self.superseded:
            return
        data = self.path.read_bytes()
        what = f"saving the log of step {self.step!r}"
        stamp = {ATTEMPT_METADATA: str(self.attempt)}

        def upload(name: str, content: bytes) -> None:
            retry_storage(what, lambda: self.container.upload_blob(name, content, overwrite=True, metadata=stamp,
                                                                   **NO_SDK_RETRY), self.retry_seconds)

        extra = [_pool.submit(upload, self.driver_blob, data)]
        for is_err, name in ((False, STDOUT_LOG), (True, STDERR_LOG)):
            if self._streams[is_err]:
                extra.append(_pool.submit(upload, log_blob_name(self.run_id, self.step, name),
                                          bytes(self._streams[is_err])))
        if self._created:
            retry_storage(what, self._flush, self.retry_seconds)
        else:  # the step ended before the first flush: one block-blob upload instead of create + append
            upload(self.blob.blob_name, data)
        for future in extra:
            future.result()

    def abandon(self) -> None:
        """Stop streaming without a final upload: a newer attempt of the step owns its log now."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        self._flusher.join()
        with self._lock:
            self._file.close()

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail)
