"""What a running ParallelRunStep tells people: its ``std_log.txt`` lines and the ``progress`` of its step row.

Neither is written per mini-batch: slices hand their lines and counts to the
host's ``Reporter`` (one per step and host), which writes them every
``AMLITE_PRS_REPORT_SECONDS`` (2) and when the step's pool closes (so on the
host that runs ``prs_finish``, everything is written before the final line).
Another host's last report can land just after that line. Progress is
the step row's ``progress`` field (``total``, ``processed``, ``succeeded``,
``failed`` items; ``batches``, ``finished_batches``, ``failed_batches``),
which the run status, the REST API and ``StepRun`` show while the step runs.
It is added to with an ETag-guarded read-modify-write, so concurrent slices on
any number of hosts never lose each other's counts, and it is never written
once the step is terminal (``prs_finish`` writes the final counts from the
ledger). While the step runs it is advisory: a flush whose host dies between
recording its rows and adding its counts is missing from it until the end.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError

from pipeline_core.engine.services import Services
from pipeline_core.errors import ConcurrencyError, NotFoundError
from pipeline_core.execution.logs import LOGS_CONTAINER, log_blob_name
from pipeline_core.parallel.settings import parallel_settings
from pipeline_core.storage.run_signals import SIGNALS
from pipeline_core.storage.run_store import RUNNING, step_key

log = logging.getLogger("amlite.parallel")

COUNTS = ("processed", "succeeded", "failed", "finished_batches", "failed_batches")


def note(services: Services, run_id: str, step: str, text: str, create: bool = False) -> None:
    """Append lines to the step's ``std_log.txt`` (an append blob), so ``wait_for_completion`` shows them.

    Only ``prs_prepare`` creates the blob (once: a redelivered prepare keeps what is there), so
    concurrent slices never race to create it.
    """
    blob = services.account.container(LOGS_CONTAINER).get_blob_client(log_blob_name(run_id, step))
    data = (text.rstrip("\n") + "\n").encode()
    try:
        if create:
            with contextlib.suppress(ResourceExistsError):
                blob.create_append_blob(match_condition=MatchConditions.IfMissing)
        blob.append_block(data)
        SIGNALS.changed(run_id)
    except Exception as exc:  # a log line is never worth failing a mini-batch
        log.warning("could not append to the log of step %s: %s", step, exc)


def initial_progress(total: int | None, batches: int) -> dict[str, Any]:
    return {"total": total, "processed": 0, "succeeded": 0, "failed": 0, "batches": batches,
            "finished_batches": 0, "failed_batches": 0}


def add_progress(services: Services, run_id: str, step: str, delta: dict[str, int],
                 attempts: int = 8) -> dict[str, Any] | None:
    """Add ``delta`` to the running step's progress; the new progress, or None (step not running, or lost races)."""
    for _ in range(attempts):
        try:
            row = services.runs.get_step(run_id, step)
        except NotFoundError:
            return None
        if row.get("status") != RUNNING:
            return None
        progress = dict(row.get("progress") or {})
        for name in COUNTS:
            progress[name] = int(progress.get(name) or 0) + int(delta.get(name) or 0)
        try:
            services.runs.update(run_id, step_key(step), {"progress": progress}, etag=row["etag"])
            return progress
        except ConcurrencyError:
            continue
    return None


def progress_line(progress: dict[str, Any]) -> str:
    total = progress.get("total")
    items = f"{progress['processed']} of {total}" if total is not None else f"{progress['processed']}"
    return (f"[amlite] progress: {items} items processed, {progress['failed']} failed; "
            f"{progress['finished_batches']} of {progress.get('batches')} mini-batches finished, "
            f"{progress['failed_batches']} failed")


def batch_line(index: int, fields: dict[str, Any]) -> str:
    """A line for a mini-batch worth a line of its own: it failed, or succeeded only on a retry."""
    tries = int(fields["tries"])
    text = (f"[amlite] mini-batch {index}: {fields['status']} after {tries} {'try' if tries == 1 else 'tries'}, "
            f"{fields['succeeded_items']} of {fields['items']} items")
    if fields.get("error"):
        text += f"; {str(fields['error']).splitlines()[0]}"
    return text


class Reporter:
    """Buffers a step's log lines and progress deltas on this host; writes them every few seconds, and on close.

    One append and one progress update per interval however many slices run here, instead of one of
    each per slice flush: at a few hundred mini-batches per second those writes would cost more
    than the mini-batches.
    """

    def __init__(self, services: Services, run_id: str, step: str, interval: float | None = None):
        self.services, self.run_id, self.step = services, run_id, step
        self.interval = interval if interval is not None else parallel_settings().report_seconds
        self._lines: list[str] = []
        self._delta: dict[str, int] = {}
        self._lock = threading.Lock()  # guards the buffers
        self._writing = threading.Lock()  # one write at a time, in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._final = False  # see finishing()

    def add(self, lines: list[str], delta: dict[str, int]) -> None:
        with self._lock:
            self._lines.extend(lines)
            for name, value in delta.items():
                self._delta[name] = self._delta.get(name, 0) + int(value)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=f"prs-report-{self.step[:12]}", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self._writing:
            with self._lock:
                lines, delta = self._lines, self._delta
                self._lines, self._delta = [], {}
            if self._final:
                delta = {}
            if not lines and not delta:
                return
            progress = add_progress(self.services, self.run_id, self.step, delta) if delta else None
            if progress is not None:
                lines.append(progress_line(progress))
            if lines:
                note(self.services, self.run_id, self.step, "\n".join(lines))

    def finishing(self) -> None:
        """The step is being ended on this host: from here on only lines are written. Its final progress is
        counted from the ledger and written with its end, so a last progress update (a read and a guarded
        write of the step row, on the finish's critical path) would be overwritten at once."""
        self._final = True

    def close(self) -> None:
        self._stop.set()
        self.flush()
