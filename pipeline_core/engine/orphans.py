"""Runs whose host died: found at start-up and ended Failed with the reason, never left Running forever.

A local engine keeps orchestration state in memory, so when its process is
killed the runs it owned can never finish. Each run row records the process
that owns it (``host_id``: hostname/pid/process start); a new host on the same
machine ends the runs whose owner is gone.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    NOT_STARTED,
    QUEUED,
    RUN_ROW,
    RUNNING,
    TERMINAL,
    InvalidTransition,
    utcnow,
)


def _alive(pid: int, start: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19] == start
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
            return start == "0"
        except OSError:
            return False


def owner_is_gone(host_id: str) -> bool:
    try:
        hostname, pid, start = host_id.split("/")
    except ValueError:
        return False
    return hostname == socket.gethostname() and not _alive(int(pid), start)


def mark_orphaned_runs(services: Services) -> list[str]:
    """End every unfinished run owned by a dead process on this machine; returns their ids."""
    table = services.runs.runs
    query = "RowKey eq 'run' and (" + " or ".join(
        f"status eq '{s}'" for s in (NOT_STARTED, QUEUED, RUNNING, CANCEL_REQUESTED)) + ")"
    ended: list[str] = []
    for row in table.query_entities(query, select=["PartitionKey", "status", "host_id"]):
        host_id = row.get("host_id") or ""
        if not host_id or not owner_is_gone(host_id):
            continue
        run_id = row["PartitionKey"]
        pid = host_id.split("/")[1]
        reason = (f"the process that ran this run (pid {pid} on {socket.gethostname()}) stopped before the run "
                  "finished; its finished steps' outputs are kept: submit the pipeline again to continue "
                  "(unchanged steps are reused)")
        _end(services, run_id, reason)
        ended.append(run_id)
    return ended


def _end(services: Services, run_id: str, reason: str) -> None:
    state = services.runs.get_state(run_id)
    for row in state.steps.values():
        if row.get("status") in TERMINAL:
            continue
        to = FAILED if row.get("status") in (RUNNING, CANCEL_REQUESTED) else CANCELED
        fields: dict[str, Any] = {"end_time": utcnow(), "error": {"message": reason}}
        try:
            services.runs.transition_from(row, to, fields)
        except InvalidTransition:
            pass
    try:
        services.runs.transition(run_id, RUN_ROW, FAILED, {"end_time": utcnow(), "error": {"message": reason},
                                                           "status_detail": reason})
    except InvalidTransition:
        pass
