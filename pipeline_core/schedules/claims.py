"""Claiming a fire on the schedule row, finishing it, and finishing claims whose claimant died.

A fire of a recurrence (or of a debounced data change) is claimed by one
ETag-guarded replace of the schedule row that also records what the fire needs
(``claim``: run id, trigger, DataPath). Only the winner goes on; it creates and
starts the run and then marks the claim ``started``. A host that dies in
between leaves the claim ``claimed``: the next tick after :data:`STALE_CLAIM`
takes it over (another ETag-guarded replace, so one taker) and finishes it
under the same run id, which cannot create or start a second run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.schedules.firing import FireResult, Starter, fire
from pipeline_core.storage.schedule_blob_store import FAILED as BLOB_FAILED
from pipeline_core.storage.schedule_blob_store import FIRED as BLOB_FIRED
from pipeline_core.storage.schedule_blob_store import SeenBlobStore
from pipeline_core.storage.schedule_decision_store import FAILED, FIRED, SKIPPED, Decision, DecisionStore
from pipeline_core.storage.schedule_store import (
    CLAIMED,
    STARTED,
    ScheduleRecord,
    ScheduleStore,
    iso,
    parse_time,
)

#: A claim not finished within this long belongs to a host that died; a later tick finishes it.
STALE_CLAIM = timedelta(minutes=2)


@dataclass
class FireContext:
    """What deciding and firing need: storage, how to start a run, and the moment of the decision."""

    services: Services
    starter: Starter
    now: datetime

    @cached_property
    def schedules(self) -> ScheduleStore:
        return ScheduleStore(self.services.account)

    @cached_property
    def decisions(self) -> DecisionStore:
        return DecisionStore(self.services.account)

    @cached_property
    def seen(self) -> SeenBlobStore:
        return SeenBlobStore(self.services.account)


def claim(ctx: FireContext, record: ScheduleRecord, run_id: str, details: dict[str, Any],
          **changes: Any) -> ScheduleRecord | None:
    """Claim a fire (plus ``changes`` to the row, e.g. the next fire time); None when another claimant won."""
    now = iso(ctx.now)
    claimed = replace(record, **changes, fire_state=CLAIMED, claim_time=now, last_run_id=run_id,
                      claim={**details, "run_id": run_id, "at": details.get("at") or now})
    return ctx.schedules.swap(record, claimed)


def decision_for(record: ScheduleRecord, details: dict[str, Any], result: FireResult) -> Decision:
    return Decision(schedule_id=record.id, decision=FIRED if result.started else SKIPPED,
                    reason="" if result.started else FAILED, trigger=str(details.get("trigger") or ""),
                    run_id=result.run_id, fire_time=str(details.get("fire_time") or ""),
                    datastore=str(details.get("datastore") or ""), blob=str(details.get("blob") or ""),
                    etag=str(details.get("etag") or ""), message=result.error or str(details.get("message") or ""))


def finish(ctx: FireContext, claimed: ScheduleRecord) -> Decision:
    """Create and start the claimed fire's run, settle the claim, record the decision (once, keyed by run id)."""
    details = dict(claimed.claim or {})
    run_id = str(details["run_id"])
    result = fire(ctx.services, claimed, run_id, ctx.starter, datapath=details.get("datapath"),
                  note=str(details.get("note") or ""))
    _settle(ctx, claimed, run_id)
    if details.get("blob"):
        ctx.seen.settle(claimed.id, str(details["datastore"]), str(details["blob"]), str(details["etag"]),
                        BLOB_FIRED if result.started else BLOB_FAILED, run_id, ctx.now)
    at = parse_time(str(details.get("at") or "")) or ctx.now
    return ctx.decisions.record(decision_for(claimed, details, result), at=at, key=run_id)


def _settle(ctx: FireContext, claimed: ScheduleRecord, run_id: str) -> None:
    """Mark the claim started, if the row still holds this claim (a user's update may have replaced the row)."""
    current = claimed
    for _ in range(5):
        if current.fire_state != CLAIMED or (current.claim or {}).get("run_id") != run_id:
            return
        if ctx.schedules.swap(current, replace(current, fire_state=STARTED)) is not None:
            return
        current = ctx.schedules.get(claimed.id)


def finish_stale(ctx: FireContext, record: ScheduleRecord) -> Decision | None:
    """Take over and finish a claim left ``claimed`` longer than :data:`STALE_CLAIM`; None if not stale or lost."""
    if record.fire_state != CLAIMED or not record.claim or record.claim_time > iso(ctx.now - STALE_CLAIM):
        return None
    taken = ctx.schedules.swap(record, replace(record, claim_time=iso(ctx.now)))
    if taken is None:
        return None
    return finish(ctx, taken)
