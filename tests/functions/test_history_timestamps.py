"""The replay's timestamp parse (functions/history_timestamps.py) reads what dateutil read, faster."""

from __future__ import annotations

import importlib
from datetime import datetime, timezone

import pytest
from dateutil.parser import parse as dateutil_parse

import function_app  # noqa: F401  (installs the parse, as the Functions host's import of the app does)
from functions.history_timestamps import parse_timestamp


@pytest.mark.parametrize("text", [
    "2026-12-03T13:31:24.0346117Z",  # the extension's form: 7 digits of fraction, UTC
    "2026-12-03T13:31:24Z",
    "2026-12-03T13:31:24.123456+00:00",  # amlite dev's form
    "2026-12-03T13:31:24.5+02:00",
    "2026-12-03T13:31:24.5",  # naive stays naive
    "Thu, 03 Dec 2026 13:31:24 GMT",  # not ISO 8601: dateutil reads it, as before
])
def test_a_timestamp_reads_as_dateutil_read_it(text: str) -> None:
    ours, theirs = parse_timestamp(text), dateutil_parse(text)
    assert ours == theirs and (ours.tzinfo is None) == (theirs.tzinfo is None)


def test_the_sdks_history_events_use_it() -> None:
    module = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
    assert module.dt_parse is parse_timestamp
    event = module.HistoryEvent(EventType=12, EventId=-1, IsPlayed=False, Timestamp="2026-12-03T13:31:24.0346117Z")
    assert event.timestamp == datetime(2026, 12, 3, 13, 31, 24, 34611, tzinfo=timezone.utc)


def test_text_that_is_no_timestamp_is_still_refused() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("not a time")
