"""``ScheduleRecurrence``: AML v1's description of when a pipeline schedule fires.

This mirrors ``azureml.pipeline.core.schedule.ScheduleRecurrence`` (same constructor,
same rules) so user code ports by rewriting the import. It only describes and
validates; ``pipeline_core.schedules.firetimes`` turns it into fire times.

Rules (each violation raises ``ValueError`` naming the rule and the fix):

- ``frequency``: one of "Minute", "Hour", "Day", "Week", "Month". Case does not
  matter, and "Minutely", "Hourly", "Daily", "Weekly", "Monthly" are accepted as
  aliases; the canonical name is stored.
- ``interval``: a whole number >= 1 (``bool`` is refused: ``True`` is not a count).
- ``hours`` (0-23) and ``minutes`` (0-59): lists of whole numbers, only with
  frequency "Day" or "Week". A single int is taken as a one-item list.
- ``week_days``: names "Monday".."Sunday" (any case), only with frequency "Week".
- ``time_of_day``: "HH:MM" (24-hour), only with "Day" or "Week", and not together
  with ``hours`` or ``minutes`` (they would contradict each other).
- ``start_time``: a ``datetime`` or an ISO 8601 string ("2024-01-31T09:00:00").
  AML reads it as wall-clock time in ``time_zone``; a value that carries its own
  offset is converted to that wall-clock time, so the instant the user meant is kept.
- ``time_zone``: a ``TimeZone`` member, a Windows id, or an IANA name; None = UTC.

Lists are stored sorted and without duplicates, week days in Monday..Sunday order,
so two recurrences that mean the same thing compare and serialise the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pipeline_core.schedules.timezones import TimeZone, resolve_time_zone, time_zone_name, to_zoneinfo

__all__ = ["ScheduleRecurrence", "FREQUENCIES", "WEEK_DAYS"]

FREQUENCIES: tuple[str, ...] = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_FREQUENCY_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in FREQUENCIES},
    "minutely": "Minute",
    "hourly": "Hour",
    "daily": "Day",
    "weekly": "Week",
    "monthly": "Month",
}
_TIME_OF_DAY_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_PREFIX = "ScheduleRecurrence:"

# to_dict() keys and the PascalCase keys AML's REST payloads use for the same fields.
_DICT_KEYS: dict[str, str] = {
    "frequency": "frequency",
    "interval": "interval",
    "start_time": "start_time",
    "time_zone": "time_zone",
    "hours": "hours",
    "minutes": "minutes",
    "week_days": "week_days",
    "time_of_day": "time_of_day",
    "Frequency": "frequency",
    "Interval": "interval",
    "StartTime": "start_time",
    "TimeZone": "time_zone",
    "Hours": "hours",
    "Minutes": "minutes",
    "WeekDays": "week_days",
    "TimeOfDay": "time_of_day",
}


class ScheduleRecurrence:
    """How often a pipeline ``Schedule`` fires: frequency, interval, start and pattern.

    Validated on construction, so a mistake is reported at the line that made it
    rather than when the schedule is created or first fires. ``validate()``
    re-checks (and re-normalises) after attributes were changed by hand.
    """

    frequency: str
    interval: int
    start_time: datetime | None
    time_zone: TimeZone | str | None
    hours: list[int] | None
    minutes: list[int] | None
    week_days: list[str] | None
    time_of_day: str | None

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: datetime | str | None = None,
        time_zone: TimeZone | str | None = None,
        hours: Iterable[int] | int | None = None,
        minutes: Iterable[int] | int | None = None,
        week_days: Iterable[str] | str | None = None,
        time_of_day: str | None = None,
    ) -> None:
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time  # type: ignore[assignment]  # normalised by validate()
        self.time_zone = time_zone
        self.hours = hours  # type: ignore[assignment]
        self.minutes = minutes  # type: ignore[assignment]
        self.week_days = week_days  # type: ignore[assignment]
        self.time_of_day = time_of_day
        self.validate()

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check every rule and store the canonical form of each field.

        Raises ``ValueError`` on the first rule broken; the message says which
        argument, what was wrong and what to write instead.
        """
        frequency = _check_frequency(self.frequency)
        interval = _check_interval(self.interval)
        time_zone = _check_time_zone(self.time_zone)
        hours = _check_int_list("hours", self.hours, 0, 23, "hours=[9, 17]")
        minutes = _check_int_list("minutes", self.minutes, 0, 59, "minutes=[0, 30]")
        week_days = _check_week_days(self.week_days)
        time_of_day = _check_time_of_day(self.time_of_day)
        start_time = _check_start_time(self.start_time, time_zone)

        for name, value in (("hours", hours), ("minutes", minutes), ("time_of_day", time_of_day)):
            if value is not None and frequency not in ("Day", "Week"):
                raise ValueError(
                    f"{_PREFIX} {name} can only be used with frequency 'Day' or 'Week', not {frequency!r}. "
                    f"Remove {name}, or use frequency='Day' or 'Week'."
                )
        if week_days is not None and frequency != "Week":
            raise ValueError(
                f"{_PREFIX} week_days can only be used with frequency 'Week', not {frequency!r}. "
                "Remove week_days, or use frequency='Week'."
            )
        if time_of_day is not None and (hours is not None or minutes is not None):
            raise ValueError(
                f"{_PREFIX} time_of_day cannot be combined with hours or minutes. "
                "Give either time_of_day='HH:MM' or hours=[...] and minutes=[...], not both."
            )

        self.frequency = frequency
        self.interval = interval
        self.time_zone = time_zone
        self.hours = hours
        self.minutes = minutes
        self.week_days = week_days
        self.time_of_day = time_of_day
        self.start_time = start_time

    @property
    def has_pattern(self) -> bool:
        """True when hours, minutes, week_days or time_of_day pin the fire times."""
        return any(v is not None for v in (self.hours, self.minutes, self.week_days, self.time_of_day))

    # -------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict for storage; ``from_dict(to_dict())`` gives an equal recurrence."""
        return {
            "frequency": self.frequency,
            "interval": self.interval,
            "start_time": self.start_time.isoformat() if self.start_time is not None else None,
            "time_zone": time_zone_name(self.time_zone),
            "hours": list(self.hours) if self.hours is not None else None,
            "minutes": list(self.minutes) if self.minutes is not None else None,
            "week_days": list(self.week_days) if self.week_days is not None else None,
            "time_of_day": self.time_of_day,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduleRecurrence:
        """Rebuild from ``to_dict()`` output; AML's PascalCase keys (``StartTime``...) work too."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{_PREFIX} from_dict needs a mapping, got {type(data).__name__}.")
        unknown = sorted(k for k in data if k not in _DICT_KEYS)
        if unknown:
            raise ValueError(
                f"{_PREFIX} unknown key(s) {unknown}; expected some of "
                f"{list(dict.fromkeys(_DICT_KEYS.values()))}."
            )
        kwargs = {_DICT_KEYS[k]: v for k, v in data.items()}
        for required in ("frequency", "interval"):
            if kwargs.get(required) is None:
                raise ValueError(f"{_PREFIX} the stored recurrence has no {required!r}; it is required.")
        return cls(**kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScheduleRecurrence):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, like AML's

    def __repr__(self) -> str:
        parts = [f"frequency={self.frequency!r}", f"interval={self.interval!r}"]
        for key, value in self.to_dict().items():
            if key not in ("frequency", "interval") and value is not None:
                parts.append(f"{key}={value!r}")
        return f"ScheduleRecurrence({', '.join(parts)})"


# ------------------------------------------------------------------- field checks
def _check_frequency(value: object) -> str:
    valid = ", ".join(repr(f) for f in FREQUENCIES)
    if isinstance(value, str):
        canonical = _FREQUENCY_ALIASES.get(value.strip().lower())
        if canonical is not None:
            return canonical
    raise ValueError(
        f"{_PREFIX} frequency {value!r} is not valid. Use one of {valid} "
        "(aliases 'Minutely', 'Hourly', 'Daily', 'Weekly', 'Monthly' also work)."
    )


def _check_interval(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{_PREFIX} interval must be a whole number of at least 1 (how many frequency units "
            f"between fires), got {value!r}. For example interval=1."
        )
    return value


def _check_time_zone(value: object) -> TimeZone | str | None:
    try:
        return resolve_time_zone(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"{_PREFIX} {exc}") from None


def _check_int_list(name: str, value: object, low: int, high: int, example: str) -> list[int] | None:
    if value is None:
        return None
    items: list[object]
    if isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{_PREFIX} {name} must be a list of whole numbers, got {value!r}. For example {example}.")
    else:
        items = list(value)
    if not items:
        raise ValueError(f"{_PREFIX} {name} is an empty list. Leave {name} out, or give values like {example}.")
    checked: set[int] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            raise ValueError(
                f"{_PREFIX} {name} must be whole numbers from {low} to {high}, got {item!r}. "
                f"For example {example}."
            )
        checked.add(item)
    return sorted(checked)


def _check_week_days(value: object) -> list[str] | None:
    if value is None:
        return None
    items: list[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise ValueError(
            f"{_PREFIX} week_days is an empty list. Leave it out (the start day is used), "
            "or give names like week_days=['Monday', 'Friday']."
        )
    by_lower = {day.lower(): day for day in WEEK_DAYS}
    found: set[str] = set()
    for item in items:
        day = by_lower.get(item.strip().lower()) if isinstance(item, str) else None
        if day is None:
            raise ValueError(
                f"{_PREFIX} week_days contains {item!r}, which is not a day name. "
                f"Use names from {', '.join(WEEK_DAYS)}, e.g. week_days=['Monday', 'Friday']."
            )
        found.add(day)
    return [day for day in WEEK_DAYS if day in found]


def _check_time_of_day(value: object) -> str | None:
    if value is None:
        return None
    match = _TIME_OF_DAY_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(
            f"{_PREFIX} time_of_day must be a string 'HH:MM' on the 24-hour clock (00:00 to 23:59), "
            f"got {value!r}. For example time_of_day='15:30'."
        )
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _check_start_time(value: object, time_zone: TimeZone | str | None) -> datetime | None:
    """A naive datetime: the wall-clock start in the schedule's zone."""
    if value is None:
        return None
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError(
            f"{_PREFIX} start_time must be a datetime or an ISO 8601 string like '2024-01-31T09:00:00' "
            f"(wall-clock time in time_zone), got {value!r}."
        )
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(to_zoneinfo(time_zone)).replace(tzinfo=None)
    return parsed.replace(fold=0)
