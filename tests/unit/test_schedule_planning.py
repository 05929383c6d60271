"""When the minute tick fires a stored recurrence: due-ness, catch-up, run-now, and DST over simulated ticks.

The simulation plays the tick exactly as the storage path does (``plan_fire``
on the row's next/last fire, then store the plan's next time) once a minute of
UTC through whole DST days, and checks each wall-clock fire happens once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pipeline_core.schedules import ScheduleRecurrence, TimeZone
from pipeline_core.schedules.planning import CATCH_UP, RECURRENCE, RUN_NOW, first_fire, plan_fire, upcoming

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")


def u(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def simulate(rec: ScheduleRecurrence, created: datetime, start: datetime, end: datetime,
             step: timedelta = timedelta(minutes=1), run_now: bool | None = False) -> list[tuple[datetime, str]]:
    """Tick every ``step`` from ``start`` to ``end``; the (fire time, trigger) of each fire."""
    anchor = created
    next_fire = first_fire(rec, created, run_now)
    last: datetime | None = None
    fires: list[tuple[datetime, str]] = []
    now = start
    while now <= end:
        plan = plan_fire(rec, anchor, next_fire, last, now)
        if plan is not None:
            fires.append((plan.fire_time, plan.trigger))
            assert plan.next_time > now, "the next fire must be after the tick that fired"
            last, next_fire = plan.fire_time, plan.next_time
        now += step
    return fires


def test_daily_wall_clock_fire_once_per_day_through_spring_forward() -> None:
    # 01:30 London does not exist on 2024-03-31 (clocks jump 01:00 -> 02:00): fire once, at 02:00 BST.
    rec = ScheduleRecurrence("Day", 1, start_time="2024-03-28T00:00:00", time_zone=TimeZone.GMTStandardTime,
                             hours=[1], minutes=[30])
    fires = simulate(rec, u(2024, 3, 29), u(2024, 3, 29), u(2024, 4, 2))
    assert [t for t, _ in fires] == [u(2024, 3, 29, 1, 30), u(2024, 3, 30, 1, 30), u(2024, 3, 31, 1, 0),
                                     u(2024, 4, 1, 0, 30)]
    assert {trigger for _, trigger in fires} == {RECURRENCE}
    assert [t.astimezone(LONDON).strftime("%H:%M") for t, _ in fires] == ["01:30", "01:30", "02:00", "01:30"]


def test_daily_wall_clock_fire_once_through_fall_back() -> None:
    # 01:30 London happens twice on 2024-10-27: fire once, at the first (BST) occurrence.
    rec = ScheduleRecurrence("Day", 1, start_time="2024-10-25T00:00:00", time_zone="Europe/London", hours=[1],
                             minutes=[30])
    fires = simulate(rec, u(2024, 10, 26), u(2024, 10, 26), u(2024, 10, 29))
    assert [t for t, _ in fires] == [u(2024, 10, 26, 0, 30), u(2024, 10, 27, 0, 30), u(2024, 10, 28, 1, 30)]


def test_hourly_keeps_absolute_spacing_across_both_transitions() -> None:
    rec = ScheduleRecurrence("Hour", 1, start_time="2024-03-30T00:15:00", time_zone="W. Europe Standard Time")
    fires = simulate(rec, u(2024, 3, 30, 12), u(2024, 3, 30, 12), u(2024, 4, 1, 0))
    gaps = {b[0] - a[0] for a, b in zip(fires, fires[1:], strict=False)}
    assert gaps == {timedelta(hours=1)} and len(fires) == 36  # 36 hours, no double, no skip


def test_missed_fire_times_collapse_into_one_catch_up() -> None:
    rec = ScheduleRecurrence("Hour", 4, start_time="2024-01-01T00:00:00")
    created = u(2023, 12, 31)
    # the host was down from 03:00 to 17:10: 04:00, 08:00, 12:00 and 16:00 were missed
    plan = plan_fire(rec, created, next_fire=u(2024, 1, 1, 4), last_fire=u(2024, 1, 1, 0), now=u(2024, 1, 1, 17, 10))
    assert plan is not None
    assert (plan.fire_time, plan.trigger, plan.missed_from) == (u(2024, 1, 1, 16), CATCH_UP, u(2024, 1, 1, 4))
    assert plan.next_time == u(2024, 1, 1, 20)
    # and the simulation over the outage produces exactly one fire for it
    fires = simulate(rec, created, u(2024, 1, 1, 17, 10), u(2024, 1, 1, 21, 0))
    assert fires == [(u(2024, 1, 1, 16), CATCH_UP), (u(2024, 1, 1, 20), RECURRENCE)]


def test_not_due_before_next_fire_but_a_tick_a_hair_early_fires() -> None:
    rec = ScheduleRecurrence("Minute", 15, start_time="2024-01-01T00:00:00")
    created = u(2023, 12, 31)
    assert plan_fire(rec, created, u(2024, 1, 1, 0, 15), u(2024, 1, 1), u(2024, 1, 1, 0, 14, 58)) is None
    early = plan_fire(rec, created, u(2024, 1, 1, 0, 15), u(2024, 1, 1), u(2024, 1, 1, 0, 14, 59, 500000))
    assert early is not None and early.fire_time == u(2024, 1, 1, 0, 15) and early.next_time == u(2024, 1, 1, 0, 30)


def test_run_now_then_series_from_creation() -> None:
    rec = ScheduleRecurrence(frequency="Hourly", interval=4)
    created = u(2024, 5, 1, 10, 7, 30)
    assert first_fire(rec, created, None) == created  # AML: no start_time -> first run now
    plan = plan_fire(rec, created, created, None, created + timedelta(seconds=20))
    assert plan is not None and plan.trigger == RUN_NOW and plan.fire_time == created
    assert plan.next_time == u(2024, 5, 1, 14, 7, 30)
    assert first_fire(rec, created, False) == u(2024, 5, 1, 14, 7, 30)
    assert upcoming(rec, created, u(2024, 5, 1, 14, 7, 30), 3) == [u(2024, 5, 1, 14, 7, 30), u(2024, 5, 1, 18, 7, 30),
                                                                u(2024, 5, 1, 22, 7, 30)]


def test_past_start_time_gives_the_next_computed_time_not_a_backlog() -> None:
    rec = ScheduleRecurrence("Day", 1, start_time="2020-01-01T09:00:00", time_zone="Eastern Standard Time")
    created = u(2024, 7, 4, 15, 0)  # 11:00 EDT: today's 09:00 is past
    assert first_fire(rec, created, None) == u(2024, 7, 5, 13, 0)
    fires = simulate(rec, created, created, u(2024, 7, 6, 0, 0), run_now=None)
    assert fires == [(u(2024, 7, 5, 13, 0), RECURRENCE)]
