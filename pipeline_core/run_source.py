"""Where a ``PipelineRun`` reads its state from: storage directly (local) or the REST API (remote).

Why an interface: following a run (statuses, step rows, log tails, cancel) is
the same logic whichever side of the Functions app the SDK is on. Only the
reads differ, so ``PipelineRun``, ``StepRun`` and ``progress.follow`` are
written once against :class:`RunSource`, and a remote workspace plugs in
``pipeline_core.client.runs.RestRunSource``. Rows keep the run store's shape
(``status``, ``start_time``, ``is_reused``, ``outputs`` ...) on both sides.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from pipeline_core.execution.logs import LOGS_CONTAINER, STD_LOG, log_blob_name
from pipeline_core.storage.run_signals import SIGNALS

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services
    from pipeline_core.storage.run_store import RunState

#: How often a local follower polls Table storage; reads are cheap and local.
LOCAL_POLL_SECONDS = 0.1
#: How often it polls a run that this process writes: those writes wake it at once (``run_signals``),
#: so the poll is only for writes made elsewhere (a cancel from another shell, another host's activity).
LOCAL_QUIET_POLL_SECONDS = 1.0


class RunSource(Protocol):
    """The reads and the one write (cancel) that following a run needs."""

    run_id: str
    #: A sensible polling interval for this source (a REST round trip costs more than a Table read).
    poll_seconds: float

    def get_run(self) -> dict[str, Any]: ...

    def get_state(self) -> RunState: ...

    def get_step(self, name: str) -> dict[str, Any]: ...

    def read_log(self, step: str, file: str = STD_LOG, offset: int = 0) -> tuple[bytes, int]:
        """Log bytes from ``offset`` on, and the offset to continue from."""
        ...

    def cancel(self) -> None: ...

    def get_metrics(self) -> dict[str, dict[str, Any]]:
        """Metrics logged in the run: ``{step name: {name: value}}``, "" for the run's own."""
        ...

    def wait_for_change(self, poll: float, limit: float) -> None:
        """Sleep for the poll interval ``poll`` (never past ``limit`` seconds); earlier if the run changed."""
        ...


class StoreRunSource:
    """A run read straight from the workspace's Table and Blob storage."""

    poll_seconds = LOCAL_POLL_SECONDS

    def __init__(self, services: Services, run_id: str):
        self.services = services
        self.run_id = run_id
        self._seen: int | None = None  # this process's change count of the run at the last get_state
        self._read_at = 0.0  # time.monotonic() of the last get_state

    def get_run(self) -> dict[str, Any]:
        return self.services.runs.get_run(self.run_id)

    def get_state(self) -> RunState:
        self._seen = SIGNALS.version(self.run_id)  # before the read: a write racing it wakes the next wait
        self._read_at = time.monotonic()
        return self.services.runs.get_state(self.run_id)

    def wait_for_change(self, poll: float, limit: float) -> None:
        """For a run this process writes, sleep until its next write here (or the quiet poll); else ``poll``.

        Never returns sooner than ``poll`` after the last read: a burst of writes (a chain of short
        steps) is read once per interval, not once per write.
        """
        if self._seen is None:
            time.sleep(max(0.0, min(poll, limit)))
            return
        SIGNALS.wait(self.run_id, self._seen, min(max(poll, LOCAL_QUIET_POLL_SECONDS), limit))
        time.sleep(max(0.0, min(self._read_at + poll - time.monotonic(), limit)))

    def get_step(self, name: str) -> dict[str, Any]:
        return self.services.runs.get_step(self.run_id, name)

    def read_log(self, step: str, file: str = STD_LOG, offset: int = 0) -> tuple[bytes, int]:
        blob = self.services.account.container(LOGS_CONTAINER).get_blob_client(log_blob_name(self.run_id, step, file))
        try:
            data = blob.download_blob(offset=offset or None).readall()
        except ResourceNotFoundError:
            data = b""
        except HttpResponseError as exc:  # 416: nothing past offset yet
            if exc.status_code != 416:
                raise
            data = b""
        return data, offset + len(data)

    def get_metrics(self) -> dict[str, dict[str, Any]]:
        from pipeline_core.storage.metric_store import MetricStore

        return MetricStore(self.services.account).metrics(self.run_id)

    def cancel(self) -> None:
        from pipeline_core.engine.activities import request_cancel

        request_cancel(self.services, self.run_id)
