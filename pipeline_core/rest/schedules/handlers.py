"""Route handlers for schedules: create, list, get, update, enable, disable, runs, next fire times, history.

A schedule that runs right away (a recurrence without start_time) starts its
first run in the create request: locally through the in-process engine, over
HTTP through the Durable client (``ServiceResponse.launch_run_id``), exactly as
a submit does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timezone
from typing import Any

from pipeline_core.application.stores import endpoint_store
from pipeline_core.engine.services import Services
from pipeline_core.errors import NotFoundError
from pipeline_core.rest.body import query_bool, query_int
from pipeline_core.rest.errors import ServiceError
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.links import schedule_url
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.runs.entities import run_entity
from pipeline_core.rest.schedules.body import invalid, parse_create, parse_update
from pipeline_core.rest.schedules.entities import decision_entity, schedule_entity
from pipeline_core.schedules import manage
from pipeline_core.schedules.firing import DeferredStart, Starter, local_starter
from pipeline_core.schedules.recurrence import ScheduleRecurrence
from pipeline_core.schedules.timezones import to_zoneinfo
from pipeline_core.schedules.validation import ScheduleValidationError
from pipeline_core.storage.schedule_store import ScheduleRecord

MAX_NEXT = 100


def _schedule_id(request: ServiceRequest) -> str:
    return route_key(request, "schedule", "schedule_id")


def _checked(call: Callable[[], ScheduleRecord]) -> ScheduleRecord:
    """Run a create/update; a broken rule becomes 400 InvalidSchedule naming the field."""
    try:
        return call()
    except ScheduleValidationError as exc:
        raise invalid(exc) from None
    except OverflowError:
        raise ServiceError(400, "InvalidSchedule", "Schedule: the recurrence's fire times fall beyond the year "
                                                   "9999; use a smaller interval or an earlier start_time",
                           [{"target": "Recurrence", "message": "fire times out of range"}]) from None


def create_schedule(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/schedules (``Schedule.create`` / ``create_for_pipeline_endpoint``)."""
    definition = parse_create(request.body)
    deferred = DeferredStart()
    starter: Starter = local_starter(services) if request.launch else deferred
    record = _checked(lambda: manage.create_schedule(services, definition, starter=starter,
                                                     created_by=request.principal_id))
    return ServiceResponse(201, schedule_entity(record, request.base),
                           {"Location": schedule_url(request.base, record.id)},
                           launch_run_id=deferred.run_ids[0] if deferred.run_ids else None)


def list_schedules(services: Services, request: ServiceRequest) -> ServiceResponse:
    records = manage.schedule_store(services).list(
        active_only=query_bool(request, "active_only", True),
        pipeline_id=request.query_value("pipeline_id") or None,
        pipeline_endpoint_id=request.query_value("pipeline_endpoint_id") or None)
    return ServiceResponse(200, {"Value": [schedule_entity(r, request.base) for r in records]})


def list_pipeline_schedules(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/pipelines/{pipeline_id}/schedules (``Schedule.get_schedules_for_pipeline_id``): all statuses."""
    pipeline_id = route_key(request, "published pipeline", "pipeline_id")
    records = manage.schedule_store(services).list(active_only=False, pipeline_id=pipeline_id)
    return ServiceResponse(200, {"Value": [schedule_entity(r, request.base) for r in records]})


def list_endpoint_schedules(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/pipelineendpoints/{endpoint}/schedules (by id or name): all statuses."""
    endpoint = endpoint_store(services).resolve(route_key(request, "pipeline endpoint", "endpoint"))
    records = manage.schedule_store(services).list(active_only=False, pipeline_endpoint_id=endpoint.id)
    return ServiceResponse(200, {"Value": [schedule_entity(r, request.base) for r in records]})


def get_schedule(services: Services, request: ServiceRequest) -> ServiceResponse:
    record = manage.schedule_store(services).get(_schedule_id(request))
    return ServiceResponse(200, schedule_entity(record, request.base))


def update_schedule(services: Services, request: ServiceRequest) -> ServiceResponse:
    """PATCH /api/schedules/{id}: only the fields sent change (``Schedule.update``)."""
    schedule_id = _schedule_id(request)
    manage.schedule_store(services).get(schedule_id)
    changes, status = parse_update(request.body)
    record = _checked(lambda: manage.update_schedule(services, schedule_id, changes, status=status))
    return ServiceResponse(200, schedule_entity(record, request.base))


def _set_status(services: Services, request: ServiceRequest, enable: bool) -> ServiceResponse:
    schedule_id = _schedule_id(request)
    record = _checked(lambda: manage.set_schedule_status(services, schedule_id, enable))
    return ServiceResponse(200, schedule_entity(record, request.base))


def enable_schedule(services: Services, request: ServiceRequest) -> ServiceResponse:
    return _set_status(services, request, True)


def disable_schedule(services: Services, request: ServiceRequest) -> ServiceResponse:
    return _set_status(services, request, False)


def _runs(services: Services, schedule_id: str, top: int) -> list[dict[str, Any]]:
    rows = []
    for run_id in manage.fired_run_ids(services, schedule_id, top):
        try:
            rows.append(services.runs.get_run(run_id))
        except NotFoundError:  # deleted since
            continue
    return rows


def list_schedule_runs(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/schedules/{id}/runs (``Schedule.get_pipeline_runs``), newest first."""
    schedule_id = _schedule_id(request)
    manage.schedule_store(services).get(schedule_id)
    rows = _runs(services, schedule_id, query_int(request, "top", 50, 1, 1000))
    return ServiceResponse(200, {"Value": [run_entity(row, request.base) for row in rows]})


def last_schedule_run(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/schedules/{id}/runs/last (``Schedule.get_last_pipeline_run``)."""
    schedule_id = _schedule_id(request)
    record = manage.schedule_store(services).get(schedule_id)
    rows = _runs(services, schedule_id, 1)
    if not rows:
        raise ServiceError(404, "NoRunYet", f"schedule {record.name!r} ({schedule_id}) has not started any run yet; "
                                            f"its history (GET /api/schedules/{schedule_id}/history) says why")
    return ServiceResponse(200, run_entity(rows[0], request.base))


def fire_time_entries(record: ScheduleRecord, count: int) -> dict[str, Any]:
    """The next ``count`` fire times, in UTC and in the schedule's time zone (the ``next`` route's body)."""
    try:
        times = manage.next_times(record, count)
    except OverflowError:  # the series runs past the year 9999: nothing to show
        times = []
    zone_name = None
    if record.recurrence:
        zone_name = ScheduleRecurrence.from_dict(record.recurrence).to_dict().get("time_zone")
    zone = to_zoneinfo(zone_name)
    return {"TimeZone": zone_name or "UTC", "Value": [
        {"Time": t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
         "LocalTime": t.astimezone(zone).isoformat()} for t in times]}


def next_fire_times(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/schedules/{id}/next?count=N: the next N fire times, in UTC and in the schedule's time zone."""
    record = manage.schedule_store(services).get(_schedule_id(request))
    return ServiceResponse(200, fire_time_entries(record, query_int(request, "count", 5, 1, MAX_NEXT)))


def schedule_history(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/schedules/{id}/history: every trigger decision, newest first."""
    decisions = manage.history(services, _schedule_id(request), query_int(request, "top", 50, 1, 1000))
    return ServiceResponse(200, {"Value": [decision_entity(d) for d in decisions]})

