"""Starting a stored run: the one place that decides which engine carries it out.

Everything that creates a run (``Experiment.submit``, a schedule, the CLI)
calls ``launch_run`` after ``create_run``. On a local workspace the run goes
to the Functions app's own orchestrator, run in process by the dev host's
Durable engine (``amlite_devhost.local``, outside pipeline_core because it
drives azure-functions code). The HTTP API starts runs through the Durable
client instead, in ``functions/``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.storage.run_store import NOT_STARTED, QUEUED, RUN_ROW, InvalidTransition


def host_identity() -> str:
    """hostname/pid/start: enough to tell later whether the process that owns a run is still alive."""
    return f"{socket.gethostname()}/{os.getpid()}/{_process_start()}"


def _process_start() -> str:
    try:
        with open(f"/proc/{os.getpid()}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return "0"


def mark_queued(services: Services, run_id: str, etag: str | None = None) -> None:
    """NotStarted -> Queued. With the ``etag`` of the row as created: one conditional write, no read
    (a row changed since falls back to the read-check-write transition)."""
    fields = {"host_id": host_identity()}
    try:
        if etag:
            created = {"PartitionKey": run_id, "RowKey": RUN_ROW, "status": NOT_STARTED, "etag": etag}
            services.runs.transition_from(created, QUEUED, fields)
        else:
            services.runs.transition(run_id, RUN_ROW, QUEUED, fields)
    except InvalidTransition:
        pass


def launch_run(services: Services, run_id: str) -> None:
    from amlite_devhost.local import start_local_run

    mark_queued(services, run_id)
    start_local_run(services.storage, run_id)


def signal_cancel(run_id: str) -> Any:
    """Tell this process's local orchestrator, if it runs ``run_id``; the run row flag reaches the rest."""
    from amlite_devhost.local import cancel_local_run

    return cancel_local_run(run_id)
