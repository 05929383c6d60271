"""Runs whose host is gone: resumed, started, or ended with the reason; never left non-terminal.

Each run row records the process that owns it (``host_id``: hostname/pid/process
start, written when the run is created and again when it is queued and started).
A host that sweeps (the dev host and the local engine, every few seconds, see
``amlite_local.resume``) looks at the unfinished runs of owners that are gone
on this machine (no such pid, a pid reused by another process, or a zombie) and
asks the engine where each run's orchestration is:

- resumed by this host (its stored history was adopted): the row changes owner;
- run by another live host: left alone;
- never started (the host died between writing the row and queueing it): started
  here, under an ETag-guarded claim of the row so two sweepers start it once;
- none at all (a host that kept its state in memory): ended Failed with the reason,
  or Canceled if a cancel was asked;
- ended without ending the run (e.g. terminated through the Durable API): ended Failed.

Owners on other machines are not judged (their pid means nothing here).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from pipeline_core.engine.services import Services
from pipeline_core.errors import ConcurrencyError
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
    decode,
    utcnow,
)

UNFINISHED = (NOT_STARTED, QUEUED, RUNNING, CANCEL_REQUESTED)
#: A run row without an owner (its creator died before writing one) is taken after this many seconds.
UNOWNED_AFTER_SECONDS = 60.0

HERE, ELSEWHERE, ENDED, NONE = "here", "elsewhere", "ended", "none"


@dataclass(frozen=True)
class Orchestration:
    """Where a run's orchestration is, as the sweeping engine sees it; ``detail`` says how an ended one ended."""

    where: str
    detail: str = ""


class Orchestrations(Protocol):
    """The engine side of the sweep (the dev host's engine, through ``amlite_local.resume``)."""

    def locate(self, run_id: str) -> Orchestration: ...

    def start(self, run_id: str) -> None: ...


class _NoEngine:
    """For callers without an engine: nothing can be resumed or started here."""

    def locate(self, run_id: str) -> Orchestration:
        return Orchestration(NONE)

    def start(self, run_id: str) -> None:
        raise RuntimeError("no orchestration engine runs in this process")


@dataclass
class SweepReport:
    adopted: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str) -> bool:
    """The process exists, is the one that started at ``start``, and is not a zombie (state Z/X: it has
    exited and only waits for its parent to reap it)."""
    fields = _stat(pid)
    if fields is None:
        if os.path.isdir("/proc"):
            return False
        try:  # no procfs (not Linux): the pid alone says it
            os.kill(pid, 0)
            return start == "0"
        except OSError:
            return False
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return False
    return fields[19] == start


def owner_is_gone(host_id: str) -> bool:
    """True when ``host_id`` names a process of this machine that no longer runs."""
    try:
        hostname, pid, start = host_id.split("/")
        number = int(pid)
    except ValueError:
        return False
    return hostname == socket.gethostname() and not _alive(number, start)


def _age_seconds(row: dict[str, Any]) -> float:
    try:
        created = datetime.fromisoformat(str(row.get("created_time") or "").replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (datetime.now(timezone.utc) - created).total_seconds()


def abandoned(row: dict[str, Any], unowned_after: float = UNOWNED_AFTER_SECONDS) -> bool:
    """The row's owner is gone, or it never had one and has waited ``unowned_after`` seconds."""
    owner = str(row.get("host_id") or "")
    if owner:
        return owner_is_gone(owner)
    return row.get("status") in (NOT_STARTED, CANCEL_REQUESTED) and _age_seconds(row) >= unowned_after


def _who(row: dict[str, Any]) -> str:
    owner = str(row.get("host_id") or "")
    parts = owner.split("/")
    return f"pid {parts[1]} on {parts[0]}" if len(parts) == 3 else "a process that left no id"


def sweep_runs(services: Services, orchestrations: Orchestrations, me: str,
               unowned_after: float = UNOWNED_AFTER_SECONDS) -> SweepReport:
    """Settle every unfinished run whose owner is gone (see the module docstring); ``me`` is this host's id."""
    report = SweepReport()
    query = "RowKey eq 'run' and (" + " or ".join(f"status eq '{s}'" for s in UNFINISHED) + ")"
    rows = [decode(e) for e in services.runs.runs.query_entities(
        query, select=["PartitionKey", "RowKey", "status", "host_id", "created_time"])]
    for row in rows:
        run_id = str(row["PartitionKey"])
        mine = row.get("host_id") == me
        if not mine and not abandoned(row, unowned_after):
            continue
        found = orchestrations.locate(run_id)
        if found.where == ELSEWHERE or (mine and found.where == HERE):
            continue
        if found.where == HERE:
            if _take(services, row, {"host_id": me}):
                report.adopted.append(run_id)
        elif found.where == ENDED:
            if _end(services, run_id, FAILED, f"its orchestration ended ({found.detail}) before the run did"):
                report.ended.append(run_id)
        elif mine:
            continue  # this host wrote the row and has not started it yet (or is starting it now)
        elif row.get("status") in (NOT_STARTED, QUEUED):
            if _take(services, row, {"status": QUEUED, "host_id": me}):
                try:
                    orchestrations.start(run_id)
                    report.started.append(run_id)
                except Exception as exc:  # noqa: BLE001 - the reason goes on the run
                    if _end(services, run_id, FAILED, f"the run was never started (its host, {_who(row)}, "
                                                      f"stopped first) and could not be started here: {exc}"):
                        report.ended.append(run_id)
        elif row.get("status") == CANCEL_REQUESTED:
            if _end(services, run_id, CANCELED, f"canceled; its host ({_who(row)}) stopped before the run ended"):
                report.ended.append(run_id)
        elif _end(services, run_id, FAILED,
                  f"the process that ran this run ({_who(row)}) stopped before the run finished and left no "
                  "orchestration state to resume it; its finished steps' outputs are kept: submit the pipeline "
                  "again to continue (unchanged steps are reused)"):
            report.ended.append(run_id)
    return report


def mark_orphaned_runs(services: Services) -> list[str]:
    """Without an engine: end every unfinished run owned by a dead process on this machine; returns their ids."""
    from pipeline_core.engine.launch import host_identity

    return sweep_runs(services, _NoEngine(), host_identity()).ended


def _take(services: Services, row: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Write ``fields`` on the run row only if nobody changed it since the sweep read it."""
    try:
        services.runs.update(str(row["PartitionKey"]), RUN_ROW, fields, etag=row.get("etag"))
        return True
    except ConcurrencyError:
        return False


def end_orphan(services: Services, run_id: str, status: str, reason: str) -> None:
    """End a run that nothing will carry on: its steps, then the run, with the reason."""
    _end(services, run_id, status, reason)


def _end(services: Services, run_id: str, status: str, reason: str) -> bool:
    """End the run and its unfinished steps; False if the run had ended meanwhile (nothing changed)."""
    state = services.runs.get_state(run_id)
    if state.run.get("status") in TERMINAL:
        return False
    for row in state.steps.values():
        if row.get("status") in TERMINAL:
            continue
        to = FAILED if status == FAILED and row.get("status") in (RUNNING, CANCEL_REQUESTED) else CANCELED
        fields: dict[str, Any] = {"end_time": utcnow(), "error": {"message": reason}}
        try:
            services.runs.transition_from(row, to, fields)
        except InvalidTransition:
            pass
    try:
        services.runs.transition(run_id, RUN_ROW, status, {"end_time": utcnow(), "error": {"message": reason},
                                                           "status_detail": reason})
    except InvalidTransition:
        return False
    return True
