"""ScheduleRecurrence validation and fire times, checked against independent answers.

Expected fire times come from hand-written lists or from ``brute_force_fires``,
which walks UTC minute by minute, reads the wall clock with zoneinfo (UTC ->
local only) and applies the DST rules literally: a matching local time that the
clock jumps over fires at the first minute after the jump; a local time seen
twice fires only the first time. It shares no code with the implementation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pipeline_core.schedules import (
    FREQUENCIES,
    WINDOWS_TO_IANA,
    ScheduleRecurrence,
    TimeZone,
    catch_up,
    first_fire_time,
    next_fire_time,
    next_fire_times,
    to_zoneinfo,
)

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


def u(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- the oracle
def brute_force_fires(
    zone: str,
    matches: Callable[[datetime], bool],
    start_local: datetime,
    strict: bool,
    window_start: datetime,
    window_end: datetime,
) -> list[datetime]:
    """Fire instants in (window_start, window_end] by stepping UTC one minute at a time."""
    tz = ZoneInfo(zone)
    start_utc = start_local.replace(tzinfo=tz).astimezone(UTC)  # tests use unambiguous starts
    seen: set[datetime] = set()
    fires: list[datetime] = []
    t = window_start
    prev_local = t.astimezone(tz).replace(tzinfo=None)
    seen.add(prev_local)
    while t < window_end:
        t += MINUTE
        local = t.astimezone(tz).replace(tzinfo=None)
        fire = False
        if local - prev_local > MINUTE:  # the clock jumped forward: did it skip a match?
            skipped = prev_local + MINUTE
            while skipped < local:
                fire = fire or matches(skipped)
                skipped += MINUTE
        if local not in seen and matches(local):
            fire = True
        seen.add(local)
        prev_local = local
        if fire and (t > start_utc if strict else t >= start_utc):
            fires.append(t)
    return fires


def implementation_fires(rec: ScheduleRecurrence, window_start: datetime, window_end: datetime) -> list[datetime]:
    out = [t for t in next_fire_times(rec, window_start, 400) if t <= window_end]
    assert all(t.tzinfo is UTC for t in out)
    return out


def day_matcher(start: date, interval: int, times: set[tuple[int, int]]) -> Callable[[datetime], bool]:
    return lambda L: (L.date() - start).days % interval == 0 and (L.hour, L.minute) in times


def week_matcher(
    start: date, interval: int, weekdays: set[int], times: set[tuple[int, int]]
) -> Callable[[datetime], bool]:
    start_monday = start - timedelta(days=start.weekday())

    def matches(L: datetime) -> bool:
        weeks = (L.date() - timedelta(days=L.weekday()) - start_monday).days // 7
        return weeks % interval == 0 and L.weekday() in weekdays and (L.hour, L.minute) in times

    return matches


# ------------------------------------------------------------ Day / Week / Month
def test_day_with_hours_and_minutes() -> None:
    rec = ScheduleRecurrence("Day", 1, start_time="2024-01-01T00:00:00", hours=[9, 17], minutes=[0, 30])
    assert next_fire_times(rec, u(2024, 1, 1), 6) == [
        u(2024, 1, 1, 9, 0), u(2024, 1, 1, 9, 30), u(2024, 1, 1, 17, 0), u(2024, 1, 1, 17, 30),
        u(2024, 1, 2, 9, 0), u(2024, 1, 2, 9, 30),
    ]


def test_day_interval_three_without_pattern_fires_at_start_time_of_day() -> None:
    rec = ScheduleRecurrence("Day", 3, start_time="2024-01-01T10:15:00")
    assert next_fire_times(rec, u(2023, 12, 1), 3) == [u(2024, 1, 1, 10, 15), u(2024, 1, 4, 10, 15), u(2024, 1, 7, 10, 15)]


def test_day_interval_two_with_hours_counts_days_from_start_date() -> None:
    rec = ScheduleRecurrence("Day", 2, start_time="2024-01-01T08:00:00", hours=[10])
    # minutes omitted: the start's minute (00) is used
    assert next_fire_times(rec, u(2024, 1, 1), 3) == [u(2024, 1, 1, 10), u(2024, 1, 3, 10), u(2024, 1, 5, 10)]


def test_hours_without_minutes_use_start_minute_and_minutes_without_hours_use_start_hour() -> None:
    rec = ScheduleRecurrence("Day", 1, start_time="2024-01-01T00:45:00", hours=[8, 20])
    assert next_fire_times(rec, u(2024, 1, 1), 3) == [u(2024, 1, 1, 8, 45), u(2024, 1, 1, 20, 45), u(2024, 1, 2, 8, 45)]
    rec = ScheduleRecurrence("Day", 1, start_time="2024-01-01T07:10:00", minutes=[0, 30])
    assert next_fire_times(rec, u(2024, 1, 1), 3) == [u(2024, 1, 1, 7, 30), u(2024, 1, 2, 7, 0), u(2024, 1, 2, 7, 30)]


def test_start_matching_the_pattern_does_not_fire_at_start() -> None:
    # AML v1 docs: a start_time that matches the pattern runs at the next calculated time.
    rec = ScheduleRecurrence("Day", 1, start_time="2024-01-01T10:00:00", hours=[10], minutes=[0])
    assert next_fire_time(rec, u(2023, 1, 1)) == u(2024, 1, 2, 10)
    rec = ScheduleRecurrence("Week", 1, start_time="2024-01-01T10:00:00", week_days=["Monday"], time_of_day="10:00")
    assert next_fire_time(rec, u(2023, 1, 1)) == u(2024, 1, 8, 10)


def test_week_with_week_days_and_time_of_day() -> None:
    # 2024-01-03 is a Wednesday
    rec = ScheduleRecurrence(
        "Week", 1, start_time="2024-01-03T00:00:00", week_days=["friday", "Monday"], time_of_day="9:00"
    )
    assert rec.week_days == ["Monday", "Friday"] and rec.time_of_day == "09:00"
    assert next_fire_times(rec, u(2024, 1, 1), 4) == [u(2024, 1, 5, 9), u(2024, 1, 8, 9), u(2024, 1, 12, 9), u(2024, 1, 15, 9)]


def test_week_interval_two_counts_weeks_from_start_week() -> None:
    rec = ScheduleRecurrence(
        "Week", 2, start_time="2024-01-03T00:00:00", week_days=["Monday", "Friday"], time_of_day="09:00"
    )
    # week of Jan 1 (Monday Jan 1 is before the start), then weeks of Jan 15 and Jan 29
    assert next_fire_times(rec, u(2024, 1, 1), 5) == [
        u(2024, 1, 5, 9), u(2024, 1, 15, 9), u(2024, 1, 19, 9), u(2024, 1, 29, 9), u(2024, 2, 2, 9),
    ]


def test_week_defaults_to_start_weekday() -> None:
    rec = ScheduleRecurrence("Week", 2, start_time="2024-01-03T08:00:00")
    assert next_fire_times(rec, u(2024, 1, 1), 3) == [u(2024, 1, 3, 8), u(2024, 1, 17, 8), u(2024, 1, 31, 8)]


def test_week_with_hours_and_minutes_brute_force() -> None:
    rec = ScheduleRecurrence(
        "Week", 3, start_time="2024-02-07T12:00:00", week_days=["Tuesday", "Sunday"], hours=[6, 23], minutes=[5]
    )
    matches = week_matcher(date(2024, 2, 7), 3, {1, 6}, {(6, 5), (23, 5)})
    expected = brute_force_fires("UTC", matches, datetime(2024, 2, 7, 12), True, u(2024, 2, 1), u(2024, 4, 15))
    assert len(expected) == 14  # weeks of Feb 5 (Sunday only), Feb 26, Mar 18, Apr 8
    assert implementation_fires(rec, u(2024, 2, 1), u(2024, 4, 15)) == expected


def test_month_clamps_the_31st_to_month_end() -> None:
    rec = ScheduleRecurrence("Month", 1, start_time="2024-01-31T09:00:00")
    assert next_fire_times(rec, u(2024, 1, 1), 6) == [
        u(2024, 1, 31, 9), u(2024, 2, 29, 9), u(2024, 3, 31, 9), u(2024, 4, 30, 9), u(2024, 5, 31, 9), u(2024, 6, 30, 9),
    ]
    rec = ScheduleRecurrence("Month", 1, start_time="2023-01-31T09:00:00")
    assert next_fire_times(rec, u(2023, 2, 1), 2) == [u(2023, 2, 28, 9), u(2023, 3, 31, 9)]


def test_month_interval_two_and_year_rollover() -> None:
    rec = ScheduleRecurrence("Monthly", 2, start_time="2024-01-31T00:00:00")
    assert next_fire_times(rec, u(2024, 1, 1), 7) == [
        u(2024, 1, 31), u(2024, 3, 31), u(2024, 5, 31), u(2024, 7, 31), u(2024, 9, 30), u(2024, 11, 30), u(2025, 1, 31),
    ]


def test_month_in_a_dst_zone_keeps_wall_clock() -> None:
    rec = ScheduleRecurrence("Month", 1, start_time="2024-01-15T09:00:00", time_zone=TimeZone.GMTStandardTime)
    assert next_fire_times(rec, u(2024, 1, 1), 4) == [u(2024, 1, 15, 9), u(2024, 2, 15, 9), u(2024, 3, 15, 9), u(2024, 4, 15, 8)]


# --------------------------------------------------------------- Minute / Hour
def test_minute_interval_from_start() -> None:
    rec = ScheduleRecurrence("Minute", 15, start_time="2024-01-01T00:05:00")
    assert next_fire_times(rec, u(2024, 1, 1), 3) == [u(2024, 1, 1, 0, 5), u(2024, 1, 1, 0, 20), u(2024, 1, 1, 0, 35)]
    assert next_fire_times(rec, u(2024, 1, 1, 0, 20), 2) == [u(2024, 1, 1, 0, 35), u(2024, 1, 1, 0, 50)]


def test_hour_interval_from_start() -> None:
    rec = ScheduleRecurrence("Hour", 5, start_time="2024-01-01T01:30:00")
    assert next_fire_times(rec, u(2024, 1, 1, 2), 3) == [u(2024, 1, 1, 6, 30), u(2024, 1, 1, 11, 30), u(2024, 1, 1, 16, 30)]


@pytest.mark.parametrize(
    "zone, start, local_day, fires_that_day",
    [
        ("GMT Standard Time", "2024-03-30T12:00:00", date(2024, 3, 31), 23),
        ("GMT Standard Time", "2024-10-26T12:00:00", date(2024, 10, 27), 25),
        ("Eastern Standard Time", "2024-03-09T12:00:00", date(2024, 3, 10), 23),
        ("America/New_York", "2024-11-02T12:00:00", date(2024, 11, 3), 25),
        ("AUS Eastern Standard Time", "2024-10-05T12:00:00", date(2024, 10, 6), 23),
        ("Australia/Sydney", "2024-04-06T12:00:00", date(2024, 4, 7), 25),
    ],
)
def test_hourly_steps_in_absolute_time_across_dst(zone: str, start: str, local_day: date, fires_that_day: int) -> None:
    rec = ScheduleRecurrence("Hour", 1, start_time=start, time_zone=zone)
    start_utc = datetime.fromisoformat(start).replace(tzinfo=to_zoneinfo(zone)).astimezone(UTC)
    fires = next_fire_times(rec, start_utc - MINUTE, 72)
    assert fires == [start_utc + timedelta(hours=k) for k in range(72)]  # no doubled or skipped hour
    tz = to_zoneinfo(zone)
    assert sum(1 for f in fires if f.astimezone(tz).date() == local_day) == fires_that_day


def test_minute_schedule_across_sydney_spring_forward() -> None:
    rec = ScheduleRecurrence("Minute", 20, start_time="2024-10-06T01:00:00", time_zone="Australia/Sydney")
    fires = next_fire_times(rec, u(2024, 10, 5), 9)
    assert fires == [u(2024, 10, 5, 15) + k * timedelta(minutes=20) for k in range(9)]  # from 01:00 AEST
    local = [f"{f.astimezone(ZoneInfo('Australia/Sydney')):%H:%M}" for f in fires]
    assert local == ["01:00", "01:20", "01:40", "03:00", "03:20", "03:40", "04:00", "04:20", "04:40"]


# ----------------------------------------------------------- DST, brute forced
DST_CASES = [
    # (id, recurrence kwargs, zone, start_local, matcher, window)
    (
        "london-spring-day",
        dict(frequency="Day", interval=1, hours=[0, 1, 2], minutes=[0, 30]),
        "Europe/London", datetime(2024, 3, 29), day_matcher(date(2024, 3, 29), 1, {(h, m) for h in (0, 1, 2) for m in (0, 30)}),
        (u(2024, 3, 29, 12), u(2024, 4, 1, 12)),
    ),
    (
        "london-fall-day",
        dict(frequency="Day", interval=1, hours=[0, 1, 2], minutes=[0, 30]),
        "Europe/London", datetime(2024, 10, 25), day_matcher(date(2024, 10, 25), 1, {(h, m) for h in (0, 1, 2) for m in (0, 30)}),
        (u(2024, 10, 25, 12), u(2024, 10, 29, 12)),
    ),
    (
        "newyork-spring-every-2-days",
        dict(frequency="Day", interval=2, time_of_day="02:30"),
        "America/New_York", datetime(2024, 3, 8), day_matcher(date(2024, 3, 8), 2, {(2, 30)}),
        (u(2024, 3, 7), u(2024, 3, 16)),
    ),
    (
        "newyork-fall-every-2-days",
        dict(frequency="Day", interval=2, time_of_day="01:30"),
        "America/New_York", datetime(2024, 11, 1), day_matcher(date(2024, 11, 1), 2, {(1, 30)}),
        (u(2024, 10, 31), u(2024, 11, 9)),
    ),
    (
        "sydney-spring-week",
        dict(frequency="Week", interval=1, week_days=["Sunday", "Wednesday"], hours=[2], minutes=[0, 30]),
        "Australia/Sydney", datetime(2024, 9, 25, 12), week_matcher(date(2024, 9, 25), 1, {6, 2}, {(2, 0), (2, 30)}),
        (u(2024, 9, 28), u(2024, 10, 14)),
    ),
    (
        "sydney-fall-week-interval-2",
        dict(frequency="Week", interval=2, week_days=["Sunday"], hours=[1, 2, 3], minutes=[0, 30]),
        "Australia/Sydney", datetime(2024, 4, 3, 12),
        week_matcher(date(2024, 4, 3), 2, {6}, {(h, m) for h in (1, 2, 3) for m in (0, 30)}),
        (u(2024, 4, 1), u(2024, 4, 23)),
    ),
    (
        "windows-zone-id",
        dict(frequency="Day", interval=1, hours=[2], minutes=[15, 45], time_zone="Eastern Standard Time"),
        "America/New_York", datetime(2024, 3, 9), day_matcher(date(2024, 3, 9), 1, {(2, 15), (2, 45)}),
        (u(2024, 3, 9), u(2024, 3, 12)),
    ),
]


@pytest.mark.parametrize("kwargs, zone, start_local, matcher, window", [c[1:] for c in DST_CASES], ids=[c[0] for c in DST_CASES])
def test_dst_no_skip_no_double(kwargs, zone, start_local, matcher, window) -> None:  # type: ignore[no-untyped-def]
    kwargs = dict(kwargs)
    kwargs.setdefault("time_zone", zone)
    rec = ScheduleRecurrence(start_time=start_local, **kwargs)
    expected = brute_force_fires(zone, matcher, start_local, True, *window)
    got = implementation_fires(rec, *window)
    assert got == expected
    assert len(set(got)) == len(got)
    # catch_up collapses every missed fire in (last, now] into the latest of them
    for last, now in [(window[0], window[1]), (expected[0], expected[-1] - MINUTE), (expected[2], expected[3])]:
        missed = [t for t in expected if last < t <= now]
        assert catch_up(rec, last, now) == (missed[-1] if missed else None)


def test_spring_forward_gap_fires_at_first_instant_after_gap() -> None:
    london = ScheduleRecurrence("Day", 1, start_time="2024-03-30T00:00:00", time_zone="GMT Standard Time", time_of_day="01:30")
    # 01:30 does not exist on 2024-03-31 (01:00 GMT -> 02:00 BST): fires at 02:00 BST = 01:00 UTC
    assert next_fire_times(london, u(2024, 3, 30, 12), 2) == [u(2024, 3, 31, 1), u(2024, 4, 1, 0, 30)]
    ny = ScheduleRecurrence("Day", 1, start_time="2024-03-09T00:00:00", time_zone="America/New_York", time_of_day="02:30")
    assert next_fire_times(ny, u(2024, 3, 9, 12), 2) == [u(2024, 3, 10, 7), u(2024, 3, 11, 6, 30)]  # 03:00 EDT
    syd = ScheduleRecurrence("Day", 1, start_time="2024-10-05T00:00:00", time_zone="AUSEasternStandardTime", time_of_day="02:30")
    assert next_fire_times(syd, u(2024, 10, 5), 2) == [u(2024, 10, 5, 16), u(2024, 10, 6, 15, 30)]  # 03:00 AEDT


def test_fall_back_overlap_fires_once_at_first_occurrence() -> None:
    london = ScheduleRecurrence("Day", 1, start_time="2024-10-26T00:00:00", time_zone="Europe/London", time_of_day="01:30")
    assert next_fire_times(london, u(2024, 10, 26, 12), 2) == [u(2024, 10, 27, 0, 30), u(2024, 10, 28, 1, 30)]
    ny = ScheduleRecurrence("Day", 1, start_time="2024-11-02T00:00:00", time_zone=TimeZone.EasternStandardTime, time_of_day="01:30")
    assert next_fire_times(ny, u(2024, 11, 2, 12), 2) == [u(2024, 11, 3, 5, 30), u(2024, 11, 4, 6, 30)]
    syd = ScheduleRecurrence("Day", 1, start_time="2024-04-06T00:00:00", time_zone="Australia/Sydney", time_of_day="02:30")
    assert next_fire_times(syd, u(2024, 4, 6), 2) == [u(2024, 4, 6, 15, 30), u(2024, 4, 7, 16, 30)]


# ------------------------------------------------- start_time None, past starts
CREATED = u(2024, 5, 5, 12, 34, 56)


def test_no_start_time_runs_now_by_default() -> None:
    rec = ScheduleRecurrence("Day", 1, hours=[9], minutes=[0])
    assert first_fire_time(rec, CREATED) == CREATED
    assert first_fire_time(rec, CREATED, run_now=True) == CREATED


def test_no_start_time_run_now_false_waits_for_next_computed_time() -> None:
    assert first_fire_time(ScheduleRecurrence("Day", 1, hours=[9], minutes=[0]), CREATED, run_now=False) == u(2024, 5, 6, 9)
    hourly = ScheduleRecurrence("Hour", 2)
    assert first_fire_time(hourly, CREATED, run_now=False) == u(2024, 5, 5, 14, 34, 56)
    assert next_fire_times(hourly, CREATED, 3, anchor=CREATED) == [
        u(2024, 5, 5, 14, 34, 56), u(2024, 5, 5, 16, 34, 56), u(2024, 5, 5, 18, 34, 56),
    ]


def test_no_start_time_needs_an_anchor() -> None:
    with pytest.raises(ValueError, match="anchor"):
        next_fire_time(ScheduleRecurrence("Hour", 1), CREATED)


def test_past_start_time_gives_next_computed_time_not_a_burst() -> None:
    rec = ScheduleRecurrence("Day", 3, start_time="2020-01-01T10:00:00")
    # 2020-01-01 -> 2024-05-06 is 1587 days = 529 * 3
    assert first_fire_time(rec, CREATED) == u(2024, 5, 6, 10)
    assert first_fire_time(rec, u(2024, 5, 6, 11)) == u(2024, 5, 9, 10)
    assert first_fire_time(rec, u(2024, 5, 6, 11), run_now=True) == u(2024, 5, 9, 10)  # run_now needs start_time=None


def test_future_start_time_fires_first_at_start() -> None:
    rec = ScheduleRecurrence("Hour", 1, start_time="2024-06-01T00:00:00", time_zone="Europe/London")
    assert first_fire_time(rec, CREATED) == u(2024, 5, 31, 23)


def test_catch_up_collapses_missed_fires_into_one() -> None:
    rec = ScheduleRecurrence("Hour", 1, start_time="2024-01-01T00:00:00")
    assert catch_up(rec, u(2024, 1, 1, 5), u(2024, 1, 1, 9, 30)) == u(2024, 1, 1, 9)
    assert catch_up(rec, u(2024, 1, 1, 5), u(2024, 1, 1, 5, 30)) is None
    assert catch_up(rec, None, u(2023, 12, 31)) is None
    assert catch_up(rec, None, u(2024, 1, 1, 0, 0)) == u(2024, 1, 1)
    weekly = ScheduleRecurrence("Week", 1, start_time="2024-01-01T00:00:00", week_days=["Monday"], time_of_day="06:00")
    assert catch_up(weekly, u(2024, 1, 8, 6), u(2024, 3, 1)) == u(2024, 2, 26, 6)


def test_naive_inputs_are_utc() -> None:
    rec = ScheduleRecurrence("Hour", 1, start_time="2024-01-01T00:00:00")
    assert next_fire_time(rec, datetime(2024, 1, 1, 3, 10)) == u(2024, 1, 1, 4)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(frequency="Yearly", interval=1), "frequency 'Yearly' is not valid. Use one of 'Minute', 'Hour', 'Day', 'Week', 'Month'"),
        (dict(frequency=None, interval=1), "frequency None is not valid"),
        (dict(frequency="Day", interval=0), "interval must be a whole number of at least 1"),
        (dict(frequency="Day", interval=1.5), "interval must be a whole number"),
        (dict(frequency="Day", interval=True), "interval must be a whole number"),
        (dict(frequency="Hour", interval=1, hours=[1]), "hours can only be used with frequency 'Day' or 'Week', not 'Hour'"),
        (dict(frequency="Month", interval=1, minutes=[1]), "minutes can only be used with frequency 'Day' or 'Week'"),
        (dict(frequency="Minute", interval=1, time_of_day="10:00"), "time_of_day can only be used with frequency 'Day' or 'Week'"),
        (dict(frequency="Day", interval=1, week_days=["Monday"]), "week_days can only be used with frequency 'Week', not 'Day'"),
        (dict(frequency="Day", interval=1, hours=[24]), "hours must be whole numbers from 0 to 23, got 24"),
        (dict(frequency="Day", interval=1, hours=[-1]), "hours must be whole numbers from 0 to 23"),
        (dict(frequency="Day", interval=1, hours=[]), "hours is an empty list"),
        (dict(frequency="Day", interval=1, hours="9"), "hours must be a list of whole numbers"),
        (dict(frequency="Week", interval=1, minutes=[60]), "minutes must be whole numbers from 0 to 59, got 60"),
        (dict(frequency="Week", interval=1, week_days=["Funday"]), "week_days contains 'Funday', which is not a day name"),
        (dict(frequency="Week", interval=1, week_days=[]), "week_days is an empty list"),
        (dict(frequency="Day", interval=1, time_of_day="25:00"), "time_of_day must be a string 'HH:MM'"),
        (dict(frequency="Day", interval=1, time_of_day="9am"), "time_of_day must be a string 'HH:MM'"),
        (dict(frequency="Day", interval=1, time_of_day="10:00", hours=[10]), "time_of_day cannot be combined with hours or minutes"),
        (dict(frequency="Day", interval=1, time_of_day="10:00", minutes=[0]), "time_of_day cannot be combined with hours or minutes"),
        (dict(frequency="Day", interval=1, start_time="tomorrow"), "start_time must be a datetime or an ISO 8601 string"),
        (dict(frequency="Day", interval=1, start_time=12), "start_time must be a datetime or an ISO 8601 string"),
        (dict(frequency="Day", interval=1, time_zone="Mars Standard Time"), "time_zone 'Mars Standard Time' is not a known time zone"),
    ],
)
def test_each_rule_raises_a_message_naming_rule_and_fix(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        ScheduleRecurrence(**kwargs)
    assert fragment in str(info.value)
    assert "ScheduleRecurrence:" in str(info.value)


def test_validate_rechecks_after_mutation() -> None:
    rec = ScheduleRecurrence("Week", 1, week_days=["Monday"])
    rec.frequency = "Day"
    with pytest.raises(ValueError, match="week_days can only be used with frequency 'Week'"):
        rec.validate()


@pytest.mark.parametrize(
    "given, canonical",
    [("Hourly", "Hour"), ("daily", "Day"), ("WEEKLY", "Week"), ("Monthly", "Month"), ("minute", "Minute"),
     ("MONTH", "Month"), (" Day ", "Day"), ("minutely", "Minute")],
)
def test_frequency_aliases(given: str, canonical: str) -> None:
    assert ScheduleRecurrence(given, 1).frequency == canonical
    assert canonical in FREQUENCIES


# ----------------------------------------------------- start_time, dict, repr
def test_start_time_forms() -> None:
    assert ScheduleRecurrence("Day", 1, start_time="2024-01-31T09:00:00").start_time == datetime(2024, 1, 31, 9)
    # an offset-carrying start keeps its instant, expressed as wall clock in the schedule's zone
    rec = ScheduleRecurrence("Day", 1, start_time="2024-06-01T08:00:00Z", time_zone="GMT Standard Time")
    assert rec.start_time == datetime(2024, 6, 1, 9)
    rec = ScheduleRecurrence("Day", 1, start_time=datetime(2024, 6, 1, 8, tzinfo=UTC))
    assert rec.start_time == datetime(2024, 6, 1, 8)


def test_to_dict_round_trips_through_json() -> None:
    rec = ScheduleRecurrence(
        "weekly", 2, start_time="2024-01-03T07:00:00", time_zone="w. europe standard time",
        week_days=["Friday", "monday", "Monday"], hours=[17, 9], minutes=0,
    )
    data = json.loads(json.dumps(rec.to_dict()))
    assert data == {
        "frequency": "Week", "interval": 2, "start_time": "2024-01-03T07:00:00", "time_zone": "W. Europe Standard Time",
        "hours": [9, 17], "minutes": [0], "week_days": ["Monday", "Friday"], "time_of_day": None,
    }
    again = ScheduleRecurrence.from_dict(data)
    assert again == rec and again.time_zone is TimeZone.WEuropeStandardTime
    iana = ScheduleRecurrence("Day", 1, time_zone="Europe/Paris")
    assert ScheduleRecurrence.from_dict(iana.to_dict()).time_zone == "Europe/Paris"


def test_from_dict_accepts_aml_pascal_case_and_rejects_unknown_keys() -> None:
    rec = ScheduleRecurrence.from_dict({"Frequency": "Day", "Interval": 1, "TimeOfDay": "06:00", "TimeZone": "UTC"})
    assert rec.time_of_day == "06:00" and rec.time_zone is TimeZone.UTC
    with pytest.raises(ValueError, match="unknown key"):
        ScheduleRecurrence.from_dict({"frequency": "Day", "interval": 1, "every": 2})
    with pytest.raises(ValueError, match="no 'interval'"):
        ScheduleRecurrence.from_dict({"frequency": "Day"})


def test_repr_shows_given_fields() -> None:
    rec = ScheduleRecurrence("Day", 1, time_of_day="06:00", time_zone=TimeZone.PacificStandardTime)
    assert repr(rec) == (
        "ScheduleRecurrence(frequency='Day', interval=1, time_zone='Pacific Standard Time', time_of_day='06:00')"
    )


# ------------------------------------------------------------------ time zones
def test_every_windows_zone_maps_to_a_loadable_iana_zone() -> None:
    assert len(TimeZone) >= 135
    for member in TimeZone:
        assert member.iana == WINDOWS_TO_IANA[member.value]
        assert isinstance(member.zoneinfo(), ZoneInfo)


@pytest.mark.parametrize(
    "member, value, iana",
    [
        (TimeZone.UTC, "UTC", "UTC"),
        (TimeZone.GMTStandardTime, "GMT Standard Time", "Europe/London"),
        (TimeZone.EasternStandardTime, "Eastern Standard Time", "America/New_York"),
        (TimeZone.PacificStandardTime, "Pacific Standard Time", "America/Los_Angeles"),
        (TimeZone.AUSEasternStandardTime, "AUS Eastern Standard Time", "Australia/Sydney"),
        (TimeZone.WEuropeStandardTime, "W. Europe Standard Time", "Europe/Berlin"),
        (TimeZone.IndiaStandardTime, "India Standard Time", "Asia/Kolkata"),
        (TimeZone.UTC11, "UTC-11", "Etc/GMT+11"),
        (TimeZone.UTC12, "UTC+12", "Etc/GMT-12"),
        (TimeZone.PacificStandardTimeMexico, "Pacific Standard Time (Mexico)", "America/Tijuana"),
        (TimeZone.ESouthAmericanStandardTime, "E. South America Standard Time", "America/Sao_Paulo"),
    ],
)
def test_known_zone_mappings(member: TimeZone, value: str, iana: str) -> None:
    assert member.value == value
    assert member.iana == iana
    assert to_zoneinfo(member) == ZoneInfo(iana)
    assert to_zoneinfo(value) == ZoneInfo(iana)  # Windows id string
    assert to_zoneinfo(member.name) == ZoneInfo(iana)  # member name string


def test_to_zoneinfo_other_forms() -> None:
    assert to_zoneinfo(None) == ZoneInfo("UTC")
    assert to_zoneinfo("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    assert to_zoneinfo("gmt standard time") == ZoneInfo("Europe/London")
    for bad in ("Nowhere/City", "", "../etc/passwd", "America"):
        with pytest.raises(ValueError, match="GMT Standard Time"):
            to_zoneinfo(bad)
