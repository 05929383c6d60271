"""When a stored recurrence schedule fires, decided from its row and the clock: pure, no storage.

The timer tick runs once a minute. A schedule is *due* when its stored
``next_fire_time`` is not after the tick (plus a second's tolerance, so a tick
that wakes a hair early does not push a fire into the next minute). The fire
then carries the latest fire time not after the tick:

- normally that is ``next_fire_time`` itself;
- after downtime (no host ticked for a while) every fire time missed since
  the last fire collapses into ONE catch-up fire, reported as the latest of
  them (``firetimes.catch_up``), never a burst of runs for the backlog;
- the fire after it is the first computed time strictly after the tick.

Daylight saving is the recurrence arithmetic's business (``firetimes``): a
wall-clock time skipped by spring-forward fires once at the end of the gap, a
time repeated by fall-back fires once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline_core.schedules.firetimes import catch_up, first_fire_time, next_fire_time, next_fire_times
from pipeline_core.schedules.recurrence import ScheduleRecurrence

#: A tick this early still fires a fire time (timer ticks land at or just after the minute).
EARLY_TOLERANCE = timedelta(seconds=1)
RUN_NOW, RECURRENCE, CATCH_UP = "run-now", "recurrence", "catch-up"


@dataclass(frozen=True)
class FirePlan:
    fire_time: datetime
    next_time: datetime
    trigger: str  # run-now, recurrence or catch-up
    missed_from: datetime | None = None  # catch-up: the first fire time that was missed


def first_fire(recurrence: ScheduleRecurrence, created_at: datetime, run_now: bool | None) -> datetime:
    """The stored ``next_fire_time`` of a new schedule: now (AML's run-now) or the first computed time."""
    return first_fire_time(recurrence, created_at, run_now=True if run_now is None else run_now)


def plan_fire(recurrence: ScheduleRecurrence, anchor: datetime, next_fire: datetime, last_fire: datetime | None,
              now: datetime) -> FirePlan | None:
    """The fire a tick at ``now`` makes for a schedule whose stored next fire is ``next_fire``; None if not due."""
    horizon = now + EARLY_TOLERANCE
    if next_fire > horizon:
        return None
    latest = catch_up(recurrence, last_fire, horizon, anchor=anchor)
    fire_time = next_fire if latest is None or latest <= next_fire else latest
    after = max(horizon, fire_time)
    following = next_fire_time(recurrence, after, anchor=anchor)
    if fire_time > next_fire:
        return FirePlan(fire_time, following, CATCH_UP, missed_from=next_fire)
    run_now = last_fire is None and recurrence.start_time is None and next_fire == anchor
    return FirePlan(fire_time, following, RUN_NOW if run_now else RECURRENCE)


def upcoming(recurrence: ScheduleRecurrence, anchor: datetime, next_fire: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times from the stored ``next_fire`` on (it included)."""
    if count <= 0:
        return []
    return [next_fire, *next_fire_times(recurrence, next_fire, count - 1, anchor=anchor)]
