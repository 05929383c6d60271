"""AML v1 schedules: recurrences (pure) and the machinery that stores and fires them.

Pure: ``recurrence``, ``timezones``, ``firetimes`` (validation, time zones,
fire-time arithmetic; their names are exported here) and ``planning`` (when a
stored schedule is due). On storage: ``manage`` (create, update, enable, disable),
``tick`` (the timer's minute: recurrences, repairs, debounced fires, polling),
``data_change`` (a changed blob -> decisions), ``polling``, ``claims`` and
``firing`` (exactly-once fires under deterministic run ids). No ``azure.functions``
anywhere: ``functions/schedules.py`` supplies the triggers and the Durable client.
See docs/schedules.md.
"""

from pipeline_core.schedules.firetimes import (
    catch_up,
    first_fire_time,
    next_fire_time,
    next_fire_times,
    resolve_local,
)
from pipeline_core.schedules.recurrence import FREQUENCIES, WEEK_DAYS, ScheduleRecurrence
from pipeline_core.schedules.timezones import (
    WINDOWS_TO_IANA,
    TimeZone,
    resolve_time_zone,
    time_zone_name,
    to_zoneinfo,
)

__all__ = [
    "FREQUENCIES",
    "WEEK_DAYS",
    "WINDOWS_TO_IANA",
    "ScheduleRecurrence",
    "TimeZone",
    "catch_up",
    "first_fire_time",
    "next_fire_time",
    "next_fire_times",
    "resolve_local",
    "resolve_time_zone",
    "time_zone_name",
    "to_zoneinfo",
]
