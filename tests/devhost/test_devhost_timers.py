"""Timer-trigger schedules (NCRONTAB seconds-first, TimeSpan, %SETTING%) and the runner."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from amlite_devhost.app_loader import FunctionInfo, TimerInfo
from amlite_devhost.timers import TimerTriggerRunner, parse_schedule

T0 = datetime(2024, 1, 1, 0, 0, 0, tzinfo=timezone.utc)


def test_six_fields_are_seconds_first() -> None:
    assert parse_schedule("0 */5 * * * *").next_after(T0) == T0 + timedelta(minutes=5)
    assert parse_schedule("*/10 * * * * *").next_after(T0) == T0 + timedelta(seconds=10)
    assert parse_schedule("0 30 9 * * 1-5").next_after(T0) == datetime(2024, 1, 1, 9, 30, tzinfo=timezone.utc)
    assert parse_schedule("0 0 9 * * Sat").next_after(T0) == datetime(2024, 1, 6, 9, 0, tzinfo=timezone.utc)


def test_five_fields_timespan_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_schedule("*/5 * * * *").next_after(T0) == T0 + timedelta(minutes=5)
    assert parse_schedule("00:00:30").next_after(T0) == T0 + timedelta(seconds=30)
    assert parse_schedule("1.02:00:00").next_after(T0) == T0 + timedelta(days=1, hours=2)
    monkeypatch.setenv("MY_SCHEDULE", "0 0 * * * *")
    assert parse_schedule("%MY_SCHEDULE%").next_after(T0) == T0 + timedelta(hours=1)


def test_bad_schedules_name_the_function() -> None:
    with pytest.raises(ValueError, match="timer 'nightly'"):
        parse_schedule("every day", function="nightly")
    with pytest.raises(ValueError, match="not a valid NCRONTAB"):
        parse_schedule("99 * * * * *", function="nightly")
    with pytest.raises(ValueError, match="not set"):
        parse_schedule("%NO_SUCH_SETTING_AMLITE%")


def _timer_function(schedule: str, run_on_startup: bool = False) -> FunctionInfo:
    return FunctionInfo(name="t", trigger_type="timerTrigger", trigger={}, bindings=[], func=lambda timer: None,
                        timer=TimerInfo(schedule=schedule, run_on_startup=run_on_startup), trigger_param="timer")


def _recording_invoke(calls: list[TimerRequest]) -> Any:
    def invoke(info: FunctionInfo, request: TimerRequest) -> concurrent.futures.Future[Any]:
        calls.append(request)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(None)
        return future
    return invoke


def test_runner_fires_on_schedule_and_stops() -> None:
    calls: list[TimerRequest] = []
    runner = TimerTriggerRunner([_timer_function("* * * * * *")], _recording_invoke(calls))
    runner.start()
    try:
        deadline = time.monotonic() + 2.0
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()
    assert len(calls) >= 1
    assert calls[0].past_due is False
    assert "Next" in calls[0].schedule_status
    count = len(calls)
    time.sleep(1.1)
    assert len(calls) == count  # stopped


def test_run_on_startup_and_past_due() -> None:
    calls: list[TimerRequest] = []
    fired = threading.Event()
    invoke = _recording_invoke(calls)

    def record(info: FunctionInfo, request: TimerRequest) -> concurrent.futures.Future[Any]:
        fired.set()
        return invoke(info, request)

    runner = TimerTriggerRunner([_timer_function("0 0 0 1 1 *", run_on_startup=True)], record)
    runner.start()
    try:
        assert fired.wait(1.0)
    finally:
        runner.stop()
    assert calls[0].past_due is False
    # A clock 5 s ahead makes an occurrence fire late: past_due.
    late = TimerTriggerRunner([_timer_function("00:10:00")], _recording_invoke(calls),
                              clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=5))
    late._running = True
    late._fire(late.entries[0], datetime.now(timezone.utc))
    assert calls[-1].past_due is True
    late.stop()
