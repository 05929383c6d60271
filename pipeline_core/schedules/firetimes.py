"""When a ``ScheduleRecurrence`` fires: pure functions, aware UTC datetimes out.

Inputs that are instants (``after``, ``created_at``, ``last_fire``, ``now``,
``anchor``) may be aware in any zone; naive ones are taken as UTC (what
``datetime.utcnow()`` gives). Every result is an aware datetime in UTC.

The series
----------
The schedule's *start* is ``recurrence.start_time`` read as wall-clock time in its
time zone (UTC if none). A recurrence without ``start_time`` has no series of its
own: AML anchors it at the moment the schedule was created, so the functions
below take that moment as ``anchor`` (``first_fire_time`` uses ``created_at``).
An anchor is required rather than guessed, because guessing it from ``after``
would let the phase of the series drift every time a fire is late.

- **Minute / Hour**: ``start + k * interval`` for k = 0, 1, 2 ... stepped in
  absolute time (UTC). A daylight-saving change therefore neither doubles nor
  skips a run; "every hour" stays 3600 s apart, so its wall-clock minute is kept
  but its wall-clock hour follows the shift.
- **Day**: every ``interval`` days counted from the start's date, at each time in
  hours x minutes. An omitted ``hours`` means the start's hour, an omitted
  ``minutes`` the start's minute; ``time_of_day`` gives one time; with none of
  them the start's own time of day is used (seconds included).
- **Week**: every ``interval`` weeks counted from the week (Monday to Sunday)
  holding the start's date, on each of ``week_days`` (default: the start's
  weekday), at the same times as Day.
- **Month**: every ``interval`` months from the start's month, on the start's
  day of the month, clamped to the month's last day (a 31st start fires on
  30 April and 28/29 February, then on 31 March again), at the start's time.
- **The start itself**: a recurrence without a pattern fires at its start
  (k = 0). With a pattern (``hours``, ``minutes``, ``time_of_day`` or
  ``week_days``) only times strictly after the start fire: AML v1 documents that
  a start_time matching week_days and time_of_day (or hours and minutes) does
  not run at start_time but at the next calculated time.

Wall-clock times and daylight saving (Day, Week, Month)
-------------------------------------------------------
Fire times are wall-clock times in the schedule's zone, turned into instants so
that DST neither skips nor doubles a run:

- a wall-clock time that does not exist (spring forward: 01:30 in London on the
  last Sunday of March) fires once, at the first valid instant after the gap
  (02:00 BST = 01:00 UTC). Several pattern times inside one gap collapse into
  that single fire, as do a gap time and a real time at the gap's end;
- a wall-clock time that happens twice (fall back: 01:30 in London on the last
  Sunday of October) fires once, at its first occurrence (``fold=0``, 01:30 BST).

Missed fires
------------
``catch_up`` is for a scheduler that was down: every fire time missed in
``(last_fire, now]`` collapses into ONE catch-up run, reported as the latest
missed time, rather than a burst of runs for a backlog nobody wants. After it,
the next regular fire is ``next_fire_time(recurrence, now)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pipeline_core.schedules.recurrence import WEEK_DAYS, ScheduleRecurrence
from pipeline_core.schedules.timezones import to_zoneinfo

__all__ = ["next_fire_times", "next_fire_time", "first_fire_time", "catch_up", "resolve_local"]

_UTC = timezone.utc


def resolve_local(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which naive wall-clock ``local`` in ``zone`` fires.

    Existing times map as usual; an ambiguous time maps to its first occurrence
    (``fold=0``); a time inside a forward gap maps to the first instant after
    the gap, i.e. the transition itself.
    """
    naive = local.replace(tzinfo=None, fold=0)
    later = naive.replace(tzinfo=zone).astimezone(_UTC)
    if later.astimezone(zone).replace(tzinfo=None) == naive:
        return later
    # In a gap, fold=0 uses the offset from before the transition (an instant after
    # it) and fold=1 the offset from after it (an instant before it): bisect between.
    earlier = naive.replace(tzinfo=zone, fold=1).astimezone(_UTC)
    after_offset = later.astimezone(zone).utcoffset()
    lo = math.floor(earlier.timestamp())  # before the transition
    hi = math.ceil(later.timestamp())  # at or after it
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, _UTC)


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__} {value!r}.")
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


@dataclass(frozen=True)
class _Plan:
    """A recurrence reduced to what the arithmetic needs."""

    frequency: str
    interval: int
    zone: ZoneInfo
    start_local: datetime  # naive wall clock
    start_utc: datetime
    times: tuple[time, ...]  # sorted wall-clock times of day (Day/Week)
    week_days: tuple[int, ...]  # 0 = Monday (Week)
    strict: bool  # a pattern was given: only fire strictly after the start

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.interval) if self.frequency == "Minute" else timedelta(hours=self.interval)


def _plan(recurrence: ScheduleRecurrence, anchor: datetime | None) -> _Plan:
    recurrence.validate()
    zone = to_zoneinfo(recurrence.time_zone)
    if recurrence.start_time is not None:
        start_local = recurrence.start_time.replace(tzinfo=None, fold=0)
    elif anchor is not None:
        start_local = _as_utc(anchor, "anchor").astimezone(zone).replace(tzinfo=None, microsecond=0, fold=0)
    else:
        raise ValueError(
            f"{recurrence!r} has no start_time, so its fire times are counted from when the schedule "
            "was created: pass anchor=<the schedule's creation time>, or use first_fire_time()."
        )
    if recurrence.time_of_day is not None:
        hh, mm = recurrence.time_of_day.split(":")
        times: tuple[time, ...] = (time(int(hh), int(mm)),)
    elif recurrence.hours is not None or recurrence.minutes is not None:
        hours = recurrence.hours if recurrence.hours is not None else [start_local.hour]
        minutes = recurrence.minutes if recurrence.minutes is not None else [start_local.minute]
        times = tuple(time(h, m) for h in hours for m in minutes)
    else:
        times = (start_local.time(),)
    if recurrence.week_days is not None:
        week_days = tuple(WEEK_DAYS.index(day) for day in recurrence.week_days)
    else:
        week_days = (start_local.weekday(),)
    return _Plan(
        frequency=recurrence.frequency,
        interval=recurrence.interval,
        zone=zone,
        start_local=start_local,
        start_utc=resolve_local(start_local, zone),
        times=tuple(sorted(times)),
        week_days=week_days,
        strict=recurrence.has_pattern,
    )


# ------------------------------------------------------------ calendar periods
# Day, Week and Month recurrences are sequences of periods (k = 0, 1, ...: every
# interval-th day, week or month from the start); each period has a short,
# sorted list of candidate instants.
def _month_number(d: date) -> int:
    return d.year * 12 + d.month - 1


def _week_monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _period_index(plan: _Plan, d: date) -> int:
    """Index of the period whose calendar range holds local date ``d`` (may be negative)."""
    start = plan.start_local.date()
    if plan.frequency == "Day":
        units = (d - start).days
    elif plan.frequency == "Week":
        units = (_week_monday(d) - _week_monday(start)).days // 7
    else:
        units = _month_number(d) - _month_number(start)
    return units // plan.interval


def _last_day(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _period_candidates(plan: _Plan, k: int) -> list[datetime]:
    """Sorted, distinct UTC fire instants of period ``k`` that are not before the start."""
    if k < 0:
        return []
    start = plan.start_local
    locals_: list[datetime] = []
    if plan.frequency == "Day":
        day = start.date() + timedelta(days=k * plan.interval)
        locals_ = [datetime.combine(day, t) for t in plan.times]
    elif plan.frequency == "Week":
        monday = _week_monday(start.date()) + timedelta(weeks=k * plan.interval)
        locals_ = [
            datetime.combine(monday + timedelta(days=wd), t) for wd in plan.week_days for t in plan.times
        ]
    else:
        number = _month_number(start.date()) + k * plan.interval
        year, month = divmod(number, 12)
        day_of_month = min(start.day, _last_day(year, month + 1))
        locals_ = [datetime.combine(date(year, month + 1, day_of_month), start.time())]
    instants = {resolve_local(local, plan.zone) for local in locals_}
    if plan.strict:
        return sorted(i for i in instants if i > plan.start_utc)
    return sorted(i for i in instants if i >= plan.start_utc)


def _iter_from(plan: _Plan, moment: datetime, inclusive: bool) -> Iterator[datetime]:
    """Fire instants after ``moment`` (or at it, if ``inclusive``), in increasing order."""
    if plan.frequency in ("Minute", "Hour"):
        step = plan.step
        if moment < plan.start_utc or (inclusive and moment == plan.start_utc):
            k = 0
        else:
            k = (moment - plan.start_utc) // step
            if plan.start_utc + k * step < moment or not inclusive:
                k += 1
        while True:
            yield plan.start_utc + k * step
            k += 1
    # A gap can push a candidate past midnight, so begin one period early.
    k = max(0, _period_index(plan, moment.astimezone(plan.zone).date()) - 1)
    last: datetime | None = None
    while True:
        for instant in _period_candidates(plan, k):
            if (instant > moment or (inclusive and instant == moment)) and (last is None or instant > last):
                last = instant
                yield instant
        k += 1


def _latest_at_or_before(plan: _Plan, moment: datetime) -> datetime | None:
    """The last fire instant not after ``moment``, or None when the series starts later."""
    if moment < plan.start_utc:
        return None
    if plan.frequency in ("Minute", "Hour"):
        return plan.start_utc + ((moment - plan.start_utc) // plan.step) * plan.step
    k = _period_index(plan, moment.astimezone(plan.zone).date()) + 1
    while k >= 0:
        for instant in reversed(_period_candidates(plan, k)):
            if instant <= moment:
                return instant
        k -= 1
    return None


# ------------------------------------------------------------------ public API
def next_fire_times(
    recurrence: ScheduleRecurrence, after: datetime, count: int = 1, *, anchor: datetime | None = None
) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, as aware UTC datetimes.

    ``anchor`` (the schedule's creation time) is needed only when the recurrence
    has no ``start_time``; see the module docstring for the rules.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a whole number >= 0, got {count!r}.")
    plan = _plan(recurrence, anchor)
    out: list[datetime] = []
    if count == 0:
        return out
    for instant in _iter_from(plan, _as_utc(after, "after"), inclusive=False):
        out.append(instant)
        if len(out) == count:
            break
    return out


def next_fire_time(
    recurrence: ScheduleRecurrence, after: datetime, *, anchor: datetime | None = None
) -> datetime:
    """The first fire time strictly after ``after`` (aware UTC)."""
    return next_fire_times(recurrence, after, 1, anchor=anchor)[0]


def first_fire_time(recurrence: ScheduleRecurrence, created_at: datetime, run_now: bool = True) -> datetime:
    """When a schedule created at ``created_at`` fires first (aware UTC).

    Without ``start_time``, AML runs the pipeline right away: ``run_now=True``
    returns ``created_at``; ``run_now=False`` skips that immediate run and returns
    the next computed time after it. With a ``start_time`` (past or future)
    ``run_now`` does not apply: the first fire is the first computed time at or
    after ``created_at``, so a start in the past gives one fire at the next
    computed time, never a burst for the past.
    """
    created = _as_utc(created_at, "created_at")
    if recurrence.start_time is None:
        if run_now:
            recurrence.validate()
            return created
        return next_fire_time(recurrence, created, anchor=created)
    plan = _plan(recurrence, None)
    return next(_iter_from(plan, created, inclusive=True))


def catch_up(
    recurrence: ScheduleRecurrence,
    last_fire: datetime | None,
    now: datetime,
    *,
    anchor: datetime | None = None,
) -> datetime | None:
    """The single catch-up fire for fire times missed in ``(last_fire, now]``, or None.

    All the missed times collapse into one run, reported as the latest of them;
    None means nothing was missed. ``last_fire=None`` means the schedule never
    fired, so every fire time up to ``now`` counts as missed.
    """
    plan = _plan(recurrence, anchor)
    latest = _latest_at_or_before(plan, _as_utc(now, "now"))
    if latest is None:
        return None
    if last_fire is not None and latest <= _as_utc(last_fire, "last_fire"):
        return None
    return latest
