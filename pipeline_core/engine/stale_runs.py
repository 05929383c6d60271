"""Stale runs on the Functions app: judged by age and by their Durable instance, since owners are other machines.

``orphans.sweep_runs`` judges a run by its owner's pid, which only means
something on the owner's machine. On Azure the worker that wrote a run row may
be gone for good (scaled in, recycled, killed between writing the row and
scheduling its orchestration), and no other instance can see its pid. So the
app's sweeper (``functions/sweeper.py``, a timer) looks at every unfinished run
whose row has not changed for a grace period and asks the Durable client about
the instance named by the run id:

- no instance, run NotStarted/Queued: never started. It is claimed with an
  ETag-guarded write (two sweepers: one wins; the claim also restarts the grace,
  so a later sweep leaves it to the winner) and started through ``start_or_fail``;
- instance ended (Completed/Failed/Terminated/Canceled) but the run did not:
  ended Canceled if a cancel was asked, else Failed, with how the instance ended;
- instance pending or running: its owner carries on; left alone;
- no instance, run Running/CancelRequested, and the row says its orchestration
  was started in this app's task hub (``task_hub``, written when it was queued):
  the instance was purged (or the hub deleted) under a live run; ended Failed
  (Canceled if a cancel was asked) with that reason;
- no instance, run Running/CancelRequested, started elsewhere or not said: left
  alone (it may run in another task hub, e.g. a local engine on the same
  storage; the local sweeper owns it).

Rows whose owner is a live process on this machine are the local sweeper's
(``orphans.sweep_runs``) and are skipped, so a dev host running this timer never
races its own submits.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from pipeline_core.engine.launch import (
    TASK_HUB_FIELD,
    RunLauncher,
    RunNotStarted,
    host_identity,
    launcher_task_hub,
    start_or_fail,
)
from pipeline_core.engine.orphans import (
    ELSEWHERE,
    ENDED,
    NONE,
    UNFINISHED,
    Orchestration,
    Orchestrations,
    SweepReport,
    _end,
    _take,
    owner_is_gone,
)
from pipeline_core.engine.services import Services
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    NOT_STARTED,
    QUEUED,
    RUNNING,
    decode,
    utcnow,
)

log = logging.getLogger("amlite.sweeper")

#: NCRONTAB (seconds first) of the app's sweep: every five minutes.
DEFAULT_SCHEDULE = "0 */5 * * * *"
#: A run row unchanged for this long with no live orchestration is settled (a start takes seconds).
DEFAULT_GRACE_SECONDS = 600.0
#: Durable runtime statuses of an instance that will not run again.
ENDED_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass(frozen=True)
class SweepSettings:
    """``AMLITE_SWEEP_SCHEDULE`` and ``AMLITE_SWEEP_GRACE_SECONDS``, read once when the app is indexed."""

    schedule: str = DEFAULT_SCHEDULE
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    #: Leave rows owned by a live process of this machine to the local sweep. Off on Azure
    #: (``WEBSITE_INSTANCE_ID`` is set): there every owner is a worker, and a hostname/pid that happens to
    #: match one here must not keep a run from ever being swept.
    skip_live_local_owners: bool = True

    @staticmethod
    def schedule_from(values: Mapping[str, str]) -> str:
        """Only the schedule, for indexing the app: a bad grace must not keep every other function from loading
        (it is reported by each sweep instead)."""
        return (values.get("AMLITE_SWEEP_SCHEDULE") or "").strip() or DEFAULT_SCHEDULE

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> SweepSettings:
        schedule = cls.schedule_from(values)
        raw = (values.get("AMLITE_SWEEP_GRACE_SECONDS") or "").strip()
        grace = DEFAULT_GRACE_SECONDS
        if raw:
            try:
                grace = float(raw)
            except ValueError:
                grace = -1.0
            if not grace >= 0:  # also NaN
                raise ValueError(f"AMLITE_SWEEP_GRACE_SECONDS must be a number of seconds >= 0, not {raw!r}; "
                                 f"unset it for the default ({DEFAULT_GRACE_SECONDS:g})")
        return cls(schedule, grace, skip_live_local_owners=not values.get("WEBSITE_INSTANCE_ID"))

    @classmethod
    def from_environment(cls) -> SweepSettings:
        return cls.from_mapping(os.environ)


class StatusLauncher(RunLauncher, Protocol):
    """A launcher that can also say how an orchestration stands (``functions/launcher.py`` DurableLauncher)."""

    def status(self, run_id: str) -> tuple[str | None, str]:
        """(runtime status name, or None when no instance exists; its output or error as text)."""
        ...


def orchestration_from_status(runtime_status: str | None, output: str = "") -> Orchestration:
    """Where the sweep stands with an instance, from its Durable runtime status."""
    if not runtime_status:
        return Orchestration(NONE)
    if runtime_status in ENDED_STATUSES:
        return Orchestration(ENDED, f"{runtime_status}: {output[:500]}" if output else runtime_status)
    return Orchestration(ELSEWHERE)


class LauncherOrchestrations:
    """:class:`~pipeline_core.engine.orphans.Orchestrations` over a launcher: located by its status, started
    through ``start_or_fail`` (a start that fails ends the run Failed with the reason)."""

    def __init__(self, services: Services, launcher: StatusLauncher) -> None:
        self.services = services
        self.launcher = launcher
        #: The task hub the launcher's instances live in (None: it does not say).
        self.task_hub = launcher_task_hub(launcher)

    def locate(self, run_id: str) -> Orchestration:
        return orchestration_from_status(*self.launcher.status(run_id))

    def start(self, run_id: str) -> None:
        start_or_fail(self.services, run_id, self.launcher, unless_started=True)


def _age_seconds(entity: Any, row: dict[str, Any], now: datetime) -> float:
    """Seconds since the row last changed (the table's Timestamp), else since the run was created."""
    changed = getattr(entity, "metadata", {}).get("timestamp")
    if not isinstance(changed, datetime):
        try:
            changed = datetime.fromisoformat(str(row.get("created_time") or "").replace("Z", "+00:00"))
        except ValueError:
            return float("inf")
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=timezone.utc)
    return (now - changed).total_seconds()


def _local_and_alive(owner: str) -> bool:
    """The owner is a process of this machine that still runs: the local sweeper's business, not ours."""
    parts = owner.split("/")
    return len(parts) == 3 and parts[0] == socket.gethostname() and not owner_is_gone(owner)


def sweep_stale_runs(services: Services, orchestrations: Orchestrations, grace_seconds: float,
                     me: str | None = None, now: datetime | None = None,
                     skip_live_local_owners: bool = True, task_hub: str | None = None) -> SweepReport:
    """Settle the unfinished runs unchanged for ``grace_seconds`` whose orchestration is missing or ended
    (see the module docstring). ``me`` is written on the rows this sweep claims; ``skip_live_local_owners``
    leaves rows of live processes of this machine to the local sweep; ``task_hub`` is the hub
    ``orchestrations`` looks in (a Running run started there whose instance is gone is ended)."""
    me = me or host_identity()
    now = now or datetime.now(timezone.utc)
    report = SweepReport()
    query = "RowKey eq 'run' and (" + " or ".join(f"status eq '{s}'" for s in UNFINISHED) + ")"
    entities = services.runs.runs.query_entities(
        query, select=["PartitionKey", "RowKey", "status", "host_id", "created_time", TASK_HUB_FIELD])
    for entity in entities:
        row = decode(entity)
        run_id = str(row["PartitionKey"])
        if _age_seconds(entity, row, now) < grace_seconds:
            continue
        if skip_live_local_owners and _local_and_alive(str(row.get("host_id") or "")):
            continue
        try:
            _settle(services, orchestrations, entity, row, me, now, report, task_hub)
        except Exception:  # noqa: BLE001 - one run the sweep cannot settle must not keep it from the others
            log.exception("the sweep could not settle run %s; the next sweep tries again", run_id)
    return report


def _end_lost(services: Services, run_id: str, status: Any, reason: str, report: SweepReport) -> None:
    """End a run whose orchestration will never end it: Canceled if a cancel was asked, else Failed."""
    canceled = status == CANCEL_REQUESTED
    if _end(services, run_id, CANCELED if canceled else FAILED,
            reason + ("; the run had been asked to cancel" if canceled else "")):
        report.ended.append(run_id)


def _settle(services: Services, orchestrations: Orchestrations, entity: Any, row: dict[str, Any], me: str,
            now: datetime, report: SweepReport, task_hub: str | None = None) -> None:
    run_id = str(row["PartitionKey"])
    found = orchestrations.locate(run_id)
    status = row.get("status")
    if found.where == ENDED:
        _end_lost(services, run_id, status, f"its orchestration ended ({found.detail}) before the run did", report)
    elif found.where == NONE and status in (RUNNING, CANCEL_REQUESTED) and task_hub \
            and row.get(TASK_HUB_FIELD) == task_hub:
        _end_lost(services, run_id, status, f"its orchestration instance no longer exists in task hub {task_hub!r}, "
                  "where it was started (purged, or the hub was deleted, while the run was running)", report)
    elif found.where == NONE and status in (NOT_STARTED, QUEUED):
        if not _take(services, row, {"host_id": me, "swept_time": utcnow()}):
            return  # another sweeper (or the run's own start) changed it first
        try:
            orchestrations.start(run_id)
            report.started.append(run_id)
            log.info("run %s was never started (its row is %.0f s old): started it", run_id,
                     _age_seconds(entity, row, now))
        except RunNotStarted:
            report.ended.append(run_id)  # start_or_fail ended it Failed with the reason
