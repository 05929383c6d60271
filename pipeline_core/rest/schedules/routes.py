"""The schedule routes: create, list, get, update, enable, disable, runs, next fire times, history, and
the schedules of a published pipeline or an endpoint."""

from __future__ import annotations

from pipeline_core.auth import ROLE_PUBLISH, ROLE_READ
from pipeline_core.rest.routing import API_PREFIX, Param, Route
from pipeline_core.rest.schedules import handlers

_ID = f"{API_PREFIX}/schedules/{{schedule_id}}"
_TOP = Param("top", "At most this many (1-1000, default 50)", {"type": "integer"})

ROUTES: tuple[Route, ...] = (
    Route(method="POST", path=f"{API_PREFIX}/schedules", operation_id="createSchedule", role=ROLE_PUBLISH,
          handler=handlers.create_schedule,
          summary="Create a schedule (Schedule.create / create_for_pipeline_endpoint); a recurrence without StartTime "
                  "starts its first run now",
          tag="schedules", success_status=201, request_schema="CreateScheduleRequest",
          response_schema="Schedule", response_headers=("Location",), errors=(400, 404, 409)),
    Route(method="GET", path=f"{API_PREFIX}/schedules", operation_id="listSchedules", role=ROLE_READ,
          handler=handlers.list_schedules, summary="List schedules, newest first (Schedule.list)",
          tag="schedules", response_schema="ScheduleList",
          query=(Param("active_only", "Only Active schedules (default true)", {"type": "boolean"}),
                 Param("pipeline_id", "Only schedules of this published pipeline"),
                 Param("pipeline_endpoint_id", "Only schedules of this pipeline endpoint")),
          errors=(400,)),
    Route(method="GET", path=_ID, operation_id="getSchedule", role=ROLE_READ, handler=handlers.get_schedule,
          summary="Get a schedule (Schedule.get)", tag="schedules", response_schema="Schedule",
          errors=(404,)),
    Route(method="PATCH", path=_ID, operation_id="updateSchedule", role=ROLE_PUBLISH,
          handler=handlers.update_schedule,
          summary="Change a schedule; only the fields sent change (Schedule.update)", tag="schedules",
          request_schema="UpdateScheduleRequest", response_schema="Schedule", errors=(400, 404, 409)),
    Route(method="POST", path=f"{_ID}/enable", operation_id="enableSchedule", role=ROLE_PUBLISH,
          handler=handlers.enable_schedule,
          summary="Enable a schedule; it fires from now on, not for the time it was disabled",
          tag="schedules", response_schema="Schedule", errors=(404, 409)),
    Route(method="POST", path=f"{_ID}/disable", operation_id="disableSchedule", role=ROLE_PUBLISH,
          handler=handlers.disable_schedule, summary="Disable a schedule", tag="schedules",
          response_schema="Schedule", errors=(404,)),
    Route(method="GET", path=f"{_ID}/runs", operation_id="listScheduleRuns", role=ROLE_READ,
          handler=handlers.list_schedule_runs,
          summary="Runs the schedule started, newest first (Schedule.get_pipeline_runs)", tag="schedules",
          response_schema="PipelineRunList", query=(_TOP,), errors=(400, 404)),
    Route(method="GET", path=f"{_ID}/runs/last", operation_id="getLastScheduleRun", role=ROLE_READ,
          handler=handlers.last_schedule_run,
          summary="The schedule's latest run (Schedule.get_last_pipeline_run); 404 NoRunYet before the first",
          tag="schedules", response_schema="PipelineRun", errors=(404,)),
    Route(method="GET", path=f"{_ID}/next", operation_id="getScheduleNextFireTimes", role=ROLE_READ,
          handler=handlers.next_fire_times,
          summary="The next fire times of a recurrence, in UTC and in its time zone", tag="schedules",
          response_schema="ScheduleFireTimes",
          query=(Param("count", "How many (1-100, default 5)", {"type": "integer"}),), errors=(400, 404)),
    Route(method="GET", path=f"{_ID}/history", operation_id="listScheduleDecisions", role=ROLE_READ,
          handler=handlers.schedule_history,
          summary="Every trigger decision (fired, or skipped: disabled, duplicate, debounced, failed), newest first",
          tag="schedules", response_schema="ScheduleDecisionList", query=(_TOP,), errors=(400, 404)),
    Route(method="GET", path=f"{API_PREFIX}/pipelines/{{pipeline_id}}/schedules",
          operation_id="listPipelineSchedules", role=ROLE_READ, handler=handlers.list_pipeline_schedules,
          summary="A published pipeline's schedules (Schedule.get_schedules_for_pipeline_id)",
          tag="schedules", response_schema="ScheduleList", errors=(404,)),
    Route(method="GET", path=f"{API_PREFIX}/pipelineendpoints/{{endpoint}}/schedules",
          operation_id="listPipelineEndpointSchedules", role=ROLE_READ,
          handler=handlers.list_endpoint_schedules,
          summary="A pipeline endpoint's schedules, by id or name (Schedule.get_schedules_for_pipeline_endpoint_id)",
          tag="schedules", response_schema="ScheduleList", errors=(404,)),
)
