"""The timer tick: everything schedules need once a minute, decided here, started through a ``Starter``.

``functions/schedules.py`` calls :func:`run_tick` from a timer trigger that
fires every minute (``TICK_SCHEDULE``). Per schedule row that may need work:

1. finish a fire claim whose claimant died (``claims.finish_stale``);
2. fire a recurrence whose ``next_fire_time`` has come (one fire per tick,
   missed times collapsed into one catch-up: ``planning.plan_fire``), claimed
   by an ETag-guarded replace of the row so two hosts or a repeated tick start
   its run once;
3. fire a debounced data change whose quiet window has passed;
4. run the polling pass of a data-change schedule whose interval has passed.

One schedule's failure is logged and reported, never allowed to stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pipeline_core.engine.services import Services
from pipeline_core.schedules.claims import FireContext, claim, finish, finish_stale
from pipeline_core.schedules.data_change import fire_pending
from pipeline_core.schedules.firing import Starter, fire_run_id, time_fire_key
from pipeline_core.schedules.planning import CATCH_UP, plan_fire
from pipeline_core.schedules.polling import poll
from pipeline_core.schedules.recurrence import ScheduleRecurrence
from pipeline_core.storage.schedule_decision_store import Decision
from pipeline_core.storage.schedule_store import ScheduleRecord, iso, parse_time

log = logging.getLogger("amlite.schedules")

#: NCRONTAB of the tick (seconds first): at second 0 of every minute.
TICK_SCHEDULE = "0 * * * * *"
#: Settled blob versions are forgotten after this long (the poll never looks back that far).
SEEN_RETENTION = timedelta(days=30)


@dataclass
class TickReport:
    decisions: list[Decision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def fired(self) -> list[Decision]:
        return [d for d in self.decisions if d.decision == "fired"]


def run_tick(services: Services, starter: Starter, now: datetime | None = None,
             schedule_ids: Iterable[str] | None = None) -> TickReport:
    """Do every schedule's due work as of ``now``; ``schedule_ids`` narrows it (tests, ``amlite schedules``)."""
    ctx = FireContext(services, starter, now or datetime.now(timezone.utc))
    only = set(schedule_ids) if schedule_ids is not None else None
    report = TickReport()
    for record in ctx.schedules.tick_candidates(ctx.now):
        if only is not None and record.id not in only:
            continue
        try:
            report.decisions.extend(tick_schedule(ctx, record))
        except Exception as exc:  # noqa: BLE001 - one schedule must not stop the rest
            log.exception("schedule %s (%s): tick failed", record.id, record.name)
            report.errors.append(f"schedule {record.id} ({record.name}): {type(exc).__name__}: {exc}")
    if only is None and ctx.now.minute == 0 and ctx.now.hour == 3:
        ctx.seen.purge(ctx.now - SEEN_RETENTION)
    return report


def tick_schedule(ctx: FireContext, record: ScheduleRecord) -> list[Decision]:
    decisions: list[Decision] = []
    repaired = finish_stale(ctx, record)
    if repaired is not None:
        decisions.append(repaired)
        record = ctx.schedules.get(record.id)
    if record.is_recurrence and record.is_active:
        fired = fire_recurrence(ctx, record)
        if fired is not None:
            decisions.append(fired)
            record = ctx.schedules.get(record.id)
    deadline = parse_time(record.pending_deadline)
    if record.pending and deadline is not None and deadline <= ctx.now:
        decisions.extend(fire_pending(ctx, record))
        record = ctx.schedules.get(record.id)
    if record.is_data_change:
        decisions.extend(poll(ctx, record))
    return decisions


def fire_recurrence(ctx: FireContext, record: ScheduleRecord) -> Decision | None:
    """Claim and fire the recurrence's due fire, if any; None when not due or another claimant won."""
    next_fire = parse_time(record.next_fire_time)
    anchor = parse_time(record.anchor_time)
    if next_fire is None or anchor is None or record.recurrence is None:
        return None
    recurrence = ScheduleRecurrence.from_dict(record.recurrence)
    plan = plan_fire(recurrence, anchor, next_fire, parse_time(record.last_fire_time), ctx.now)
    if plan is None:
        return None
    run_id = fire_run_id(record.id, time_fire_key(plan.fire_time))
    details = {"trigger": plan.trigger, "fire_time": iso(plan.fire_time),
               "note": f"started by schedule {record.name!r} ({record.id}) for its {iso(plan.fire_time)} fire"}
    if plan.trigger == CATCH_UP and plan.missed_from is not None:
        details["message"] = (f"catch-up: the fire times from {iso(plan.missed_from)} to {iso(plan.fire_time)} "
                              "passed while no host ticked; one run stands for all of them")
    claimed = claim(ctx, record, run_id, details, next_fire_time=iso(plan.next_time),
                    last_fire_time=iso(plan.fire_time))
    if claimed is None:
        return None
    return finish(ctx, claimed)
