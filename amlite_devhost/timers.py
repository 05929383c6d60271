"""Fire timerTrigger functions on their schedules.

Schedules are NCRONTAB with six fields, seconds first
(``{second} {minute} {hour} {day} {month} {day-of-week}``); croniter reads
that with ``second_at_beginning=True``.  Also accepted, as the host does: a
TimeSpan (``hh:mm:ss`` / ``d.hh:mm:ss``) for a fixed interval, and
``%SETTING%`` to read the schedule from an app setting.  Times are UTC unless
``WEBSITE_TIME_ZONE`` names an IANA zone.

Like the host, a function never overlaps itself: the next occurrence is
planned when a run finishes, and a run that starts more than a second late
gets ``past_due=True``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from azure.functions.timer import TimerRequest
from croniter import croniter

from .app_loader import FunctionInfo
from .scheduling import DelayScheduler, TimerHandle

logger = logging.getLogger("amlite.devhost.timers")

PAST_DUE_AFTER = timedelta(seconds=1)
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})$")


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    tz: tzinfo = timezone.utc

    def next_after(self, moment: datetime) -> datetime:
        six = len(self.expression.split()) == 6
        it = croniter(self.expression, moment.astimezone(self.tz), second_at_beginning=six)
        value = it.get_next(datetime)
        assert isinstance(value, datetime)
        return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class IntervalSchedule:
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


def resolve_setting(expression: str) -> str:
    """``%NAME%`` -> the app setting (environment variable) ``NAME``."""
    text = expression.strip()
    if len(text) > 2 and text.startswith("%") and text.endswith("%"):
        name = text[1:-1]
        if name not in os.environ:
            raise ValueError(f"schedule '{text}' names app setting '{name}', which is not set")
        return os.environ[name].strip()
    return text


def host_time_zone() -> tzinfo:
    name = os.environ.get("WEBSITE_TIME_ZONE")
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except Exception as exc:
        raise ValueError(f"WEBSITE_TIME_ZONE={name!r} is not an IANA time zone name") from exc


def parse_schedule(expression: str, tz: tzinfo | None = None, function: str = "?") -> Schedule:
    """Parse an NCRONTAB (6 fields; 5 accepted) or TimeSpan schedule; errors name the function."""
    text = resolve_setting(expression)
    span = _TIMESPAN.match(text)
    if span:
        interval = timedelta(days=int(span["days"] or 0), hours=int(span["h"]),
                             minutes=int(span["m"]), seconds=int(span["s"]))
        if interval <= timedelta(0):
            raise ValueError(f"timer '{function}': interval {text!r} must be positive")
        return IntervalSchedule(interval)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"timer '{function}': schedule {text!r} must be NCRONTAB "
                         "'{second} {minute} {hour} {day} {month} {day-of-week}' or a TimeSpan hh:mm:ss")
    if not croniter.is_valid(text, second_at_beginning=len(fields) == 6):
        raise ValueError(f"timer '{function}': schedule {text!r} is not a valid NCRONTAB expression")
    return CronSchedule(text, tz or timezone.utc)


Invoke = Callable[[FunctionInfo, TimerRequest], "concurrent.futures.Future[Any]"]


@dataclass(eq=False)
class _Entry:
    info: FunctionInfo
    schedule: Schedule
    last: datetime | None = None
    handle: TimerHandle | None = None
    runs: int = 0
    catching_up: bool = False


class TimerTriggerRunner:
    """Schedule every timer function; ``invoke`` returns a future for one run."""

    def __init__(self, functions: list[FunctionInfo], invoke: Invoke, *,
                 scheduler: DelayScheduler | None = None, clock: Callable[[], datetime] | None = None) -> None:
        tz = host_time_zone()
        self._invoke = invoke
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._own_scheduler = scheduler is None
        self._scheduler = scheduler or DelayScheduler("amlite-timer-triggers")
        self._lock = threading.Lock()
        self._running = False
        self.entries = [
            _Entry(f, parse_schedule(f.timer.schedule, tz, f.name)) for f in functions if f.timer is not None
        ]

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        if self._own_scheduler:
            self._scheduler.start()
        now = self._clock()
        for entry in self.entries:
            assert entry.info.timer is not None
            if entry.info.timer.run_on_startup:
                self._plan(entry, now)
            else:
                self._plan(entry, entry.schedule.next_after(now))

    def stop(self) -> None:
        with self._lock:
            self._running = False
            for entry in self.entries:
                if entry.handle is not None:
                    entry.handle.cancel()
                    entry.handle = None
        if self._own_scheduler:
            self._scheduler.stop()

    def next_fire(self, name: str) -> datetime | None:
        for entry in self.entries:
            if entry.info.name == name and entry.last is not None:
                return entry.schedule.next_after(entry.last)
        return None

    def _plan(self, entry: _Entry, when: datetime) -> None:
        with self._lock:
            if not self._running:
                return
            delay = (when - self._clock()).total_seconds()
            entry.handle = self._scheduler.call_at(time.monotonic() + max(0.0, delay),
                                                   lambda: self._fire(entry, when))

    def _fire(self, entry: _Entry, scheduled: datetime) -> None:
        if not self._running:
            return
        now = self._clock()
        past_due = now - scheduled > PAST_DUE_AFTER
        nxt = entry.schedule.next_after(scheduled)
        request = TimerRequest(
            past_due=past_due,
            schedule_status={"Last": (entry.last or scheduled).isoformat(), "Next": nxt.isoformat(),
                             "LastUpdated": now.isoformat()},
            schedule={"AdjustForDST": True},
        )
        entry.last = scheduled
        entry.runs += 1
        try:
            future = self._invoke(entry.info, request)
        except Exception:
            logger.exception("timer '%s' could not be started", entry.info.name)
            self._plan(entry, entry.schedule.next_after(self._clock()))
            return
        future.add_done_callback(lambda f: self._finished(entry, scheduled, f))

    def _finished(self, entry: _Entry, scheduled: datetime, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            logger.error("Executed 'Functions.%s' (Failed): %s", entry.info.name, exc,
                         exc_info=(type(exc), exc, exc.__traceback__))
        now = self._clock()
        if entry.catching_up:
            entry.catching_up = False
            nxt = entry.schedule.next_after(now)
        else:
            nxt = entry.schedule.next_after(scheduled)
            # Overran one or more occurrences: run once right away (past due),
            # then resume from the current time rather than replaying each miss.
            entry.catching_up = nxt < now
        self._plan(entry, nxt)
