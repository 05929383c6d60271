"""Creating, changing and reading schedules: one path for the SDK (``Schedule``) and the REST routes.

Creation follows AML v1: a recurrence without ``start_time`` runs right away
("first run now"; ``run_now=False`` turns that off), a ``start_time`` in the
past gives the next computed time, never the backlog. When the caller passes a
``starter`` (a local workspace, or the HTTP layer) the run-now fire happens at
creation through the same claim as a tick's; otherwise the next tick fires it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.errors import ConcurrencyError
from pipeline_core.schedules.claims import FireContext
from pipeline_core.schedules.firetimes import next_fire_time
from pipeline_core.schedules.firing import Starter
from pipeline_core.schedules.planning import first_fire, upcoming
from pipeline_core.schedules.recurrence import ScheduleRecurrence
from pipeline_core.schedules.validation import (
    ScheduleDefinition,
    ScheduleValidationError,
    check_definition,
    check_targets,
)
from pipeline_core.storage.schedule_decision_store import FIRED, Decision, DecisionStore
from pipeline_core.storage.schedule_store import (
    ACTIVE,
    DATA_CHANGE,
    DISABLED,
    RECURRENCE,
    ScheduleRecord,
    ScheduleStore,
    iso,
    parse_time,
)

UPDATABLE = ("name", "description", "recurrence", "pipeline_parameters", "datastore_name", "polling_interval",
             "data_path_parameter_name", "continue_on_step_failure", "path_on_datastore", "recursive",
             "debounce_seconds")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def schedule_store(services: Services) -> ScheduleStore:
    return ScheduleStore(services.account)


def definition_of(record: ScheduleRecord) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=record.name, experiment_name=record.experiment_name, pipeline_id=record.pipeline_id or None,
        pipeline_endpoint_id=record.pipeline_endpoint_id or None, description=record.description,
        recurrence=ScheduleRecurrence.from_dict(record.recurrence) if record.recurrence else None,
        pipeline_parameters=dict(record.pipeline_parameters), datastore_name=record.datastore_name or None,
        polling_interval=record.polling_interval, data_path_parameter_name=record.data_path_parameter_name or None,
        continue_on_step_failure=record.continue_on_step_failure,
        path_on_datastore=record.path_on_datastore or None, recursive=record.recursive,
        debounce_seconds=record.debounce_seconds)


def _apply(record: ScheduleRecord, d: ScheduleDefinition) -> ScheduleRecord:
    """The definition's fields onto a record (bookkeeping fields untouched)."""
    return replace(record, name=d.name, experiment_name=d.experiment_name, description=d.description or "",
                   kind=RECURRENCE if d.recurrence is not None else DATA_CHANGE,
                   recurrence=d.recurrence.to_dict() if d.recurrence is not None else None,
                   pipeline_parameters=dict(d.pipeline_parameters), datastore_name=d.datastore_name or "",
                   polling_interval=d.polling_interval, data_path_parameter_name=d.data_path_parameter_name or "",
                   continue_on_step_failure=d.continue_on_step_failure,
                   path_on_datastore=d.path_on_datastore or "", recursive=d.recursive,
                   debounce_seconds=float(d.debounce_seconds))


def create_schedule(services: Services, d: ScheduleDefinition, *, starter: Starter | None = None,
                    now: datetime | None = None, created_by: str | None = None) -> ScheduleRecord:
    """Validate, store an Active schedule, and (with ``starter``) fire its run-now fire at once."""
    check_definition(d)
    check_targets(services, d)
    moment = _now(now)
    stamp = iso(moment)
    record = _apply(ScheduleRecord(id=str(uuid.uuid4()), name=d.name, experiment_name=d.experiment_name,
                                   kind=RECURRENCE, pipeline_id=d.pipeline_id or "",
                                   pipeline_endpoint_id=d.pipeline_endpoint_id or "", status=ACTIVE,
                                   anchor_time=stamp, watch_since=stamp, poll_since=stamp, created_time=stamp,
                                   updated_time=stamp, created_by=created_by or ""), d)
    if d.recurrence is not None:
        record = replace(record, next_fire_time=iso(first_fire(d.recurrence, moment, d.run_now)))
    record = schedule_store(services).create(record)
    if starter is not None and record.is_recurrence and record.next_fire_time <= stamp:
        from pipeline_core.schedules.tick import fire_recurrence

        fire_recurrence(FireContext(services, starter, moment), record)
        record = schedule_store(services).get(record.id)
    return record


def _swap_retrying(services: Services, schedule_id: str, change: Any, attempts: int = 8) -> ScheduleRecord:
    """Apply ``change(current) -> new`` with an ETag-guarded replace, re-reading after a lost race."""
    store = schedule_store(services)
    for _ in range(attempts):
        current = store.get(schedule_id)
        changed = change(current)
        if changed is current:
            return current
        done = store.swap(current, changed)
        if done is not None:
            return done
    raise ConcurrencyError(f"schedule {schedule_id!r} kept changing while it was updated; try again")


def update_schedule(services: Services, schedule_id: str, changes: dict[str, Any], *, status: str | None = None,
                    now: datetime | None = None) -> ScheduleRecord:
    """AML's ``Schedule.update``: only the given fields change; the result must pass every rule again."""
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise ValueError(f"Schedule.update: unknown field(s) {unknown}; updatable: {', '.join(UPDATABLE)}")
    moment = _now(now)
    current = schedule_store(services).get(schedule_id)
    d = definition_of(current)
    for key, value in changes.items():
        setattr(d, key, value)
    check_definition(d)
    if (d.recurrence is not None and current.is_data_change) or (d.datastore_name is not None
                                                                  and current.is_recurrence):
        raise ScheduleValidationError("recurrence", "a schedule cannot switch between a recurrence and a datastore "
                                                    "trigger; create a new schedule instead")
    check_targets(services, d)
    recurrence_changed = "recurrence" in changes and (d.recurrence.to_dict() if d.recurrence else None) \
        != current.recurrence

    def change(record: ScheduleRecord) -> ScheduleRecord:
        updated = replace(_apply(record, d), updated_time=iso(moment))
        if recurrence_changed and d.recurrence is not None:
            updated = replace(updated, anchor_time=iso(moment),
                              next_fire_time=iso(first_fire(d.recurrence, moment, run_now=False)))
        return updated

    record = _swap_retrying(services, schedule_id, change)
    if status is not None:
        record = set_schedule_status(services, schedule_id, status == ACTIVE, now=moment)
    return record


def set_schedule_status(services: Services, schedule_id: str, enable: bool, *,
                        now: datetime | None = None) -> ScheduleRecord:
    """Enable (from now on: no fire for the time it was disabled) or disable a schedule."""
    moment = _now(now)
    current = schedule_store(services).get(schedule_id)
    if enable and not current.is_active:
        check_targets(services, definition_of(current))

    def change(record: ScheduleRecord) -> ScheduleRecord:
        if record.is_active == enable:
            return record
        stamp = iso(moment)
        if not enable:
            return replace(record, status=DISABLED, updated_time=stamp)
        updated = replace(record, status=ACTIVE, updated_time=stamp, watch_since=stamp, poll_since=stamp)
        anchor = parse_time(record.anchor_time)
        if record.recurrence and anchor is not None:
            recurrence = ScheduleRecurrence.from_dict(record.recurrence)
            updated = replace(updated, next_fire_time=iso(next_fire_time(recurrence, moment, anchor=anchor)))
        return updated

    return _swap_retrying(services, schedule_id, change)


def next_times(record: ScheduleRecord, count: int) -> list[datetime]:
    """The next ``count`` fire times of an active recurrence schedule (none for data-change or disabled ones)."""
    next_fire, anchor = parse_time(record.next_fire_time), parse_time(record.anchor_time)
    if not record.is_recurrence or not record.is_active or next_fire is None or anchor is None \
            or record.recurrence is None:
        return []
    return upcoming(ScheduleRecurrence.from_dict(record.recurrence), anchor, next_fire, count)


def history(services: Services, schedule_id: str, top: int = 50) -> list[Decision]:
    schedule_store(services).get(schedule_id)
    return DecisionStore(services.account).list(schedule_id, top)


def fired_run_ids(services: Services, schedule_id: str, top: int = 50) -> list[str]:
    """Run ids the schedule started, newest first (from its ``fired`` decisions)."""
    decisions = DecisionStore(services.account).list(schedule_id, top, decision=FIRED)
    return list(dict.fromkeys(d.run_id for d in decisions if d.run_id))
