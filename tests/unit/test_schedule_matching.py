"""Which blobs a data-change schedule watches: ``path_on_datastore`` as a folder, sub-folders unless told not to."""

from __future__ import annotations

import pytest

from pipeline_core.schedules.data_change import listing_prefix, watches
from pipeline_core.storage.schedule_store import DATA_CHANGE, ScheduleRecord


def record(path: str, recursive: bool = True) -> ScheduleRecord:
    return ScheduleRecord(id="s", name="n", experiment_name="e", kind=DATA_CHANGE, datastore_name="ds",
                          path_on_datastore=path, recursive=recursive)


@pytest.mark.parametrize(("path", "recursive", "blob", "expected"), [
    ("incoming/", True, "incoming/a.csv", True),
    ("incoming", True, "incoming/a.csv", True),
    ("/incoming/", True, "incoming/a.csv", True),
    ("incoming/", True, "incoming/2024/01/a.csv", True),
    ("incoming/", False, "incoming/2024/01/a.csv", False),  # AML: sub-folders are not monitored
    ("incoming/", False, "incoming/a.csv", True),
    ("incoming", True, "incoming-old/a.csv", False),  # a folder, not a string prefix
    ("incoming/", True, "incoming/", False),  # the folder marker itself is no data
    ("incoming/a.csv", True, "incoming/a.csv", True),  # a path naming one blob watches it
    ("", True, "anything/at/all.txt", True),
    ("", False, "top.txt", True),
    ("", False, "deeper/top.txt", False),
])
def test_watches(path: str, recursive: bool, blob: str, expected: bool) -> None:
    assert watches(record(path, recursive), blob) is expected


def test_listing_prefix_lists_no_more_than_needed() -> None:
    assert listing_prefix(record("/incoming/")) == "incoming/"
    assert listing_prefix(record("")) is None
