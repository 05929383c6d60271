"""AML v1 schedule recurrences, pure: validation, time zones and fire-time arithmetic.

No storage and no ``azure.functions`` here; the schedule rows and timer trigger
build on these functions.
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
