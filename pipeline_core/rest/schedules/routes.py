"""The schedule routes, appended to ``routes.ROUTES`` (so the HTTP functions and OpenAPI get them too).

Kept in their own tuple so schedules can change without touching the shared
table; ``routes.py`` imports this module after defining ``Route``.
"""

from __future__ import annotations

from pipeline_core.auth import ROLE_PUBLISH, ROLE_READ
from pipeline_core.rest.routes import API_PREFIX, Param, Route
from pipeline_core.rest.schedules import handlers as ops

_ID = f"{API_PREFIX}/schedules/{{schedule_id}}"
_TOP = Param("top", "At most this many (1-1000, default 50)", {"type": "integer"})

SCHEDULE_ROUTES: tuple[Route, ...] = (
    Route("POST", f"{API_PREFIX}/schedules", "createSchedule", ROLE_PUBLISH, ops.create_schedule,
          "Create a schedule (Schedule.create / create_for_pipeline_endpoint); a recurrence without StartTime "
          "starts its first run now", "schedules", 201, "CreateScheduleRequest", "Schedule",
          response_headers=("Location",), errors=(400, 404, 409)),
    Route("GET", f"{API_PREFIX}/schedules", "listSchedules", ROLE_READ, ops.list_schedules,
          "List schedules, newest first (Schedule.list)", "schedules", response_schema="ScheduleList",
          query=(Param("active_only", "Only Active schedules (default true)", {"type": "boolean"}),
                 Param("pipeline_id", "Only schedules of this published pipeline"),
                 Param("pipeline_endpoint_id", "Only schedules of this pipeline endpoint")), errors=(400,)),
    Route("GET", _ID, "getSchedule", ROLE_READ, ops.get_schedule, "Get a schedule (Schedule.get)", "schedules",
          response_schema="Schedule", errors=(404,)),
    Route("PATCH", _ID, "updateSchedule", ROLE_PUBLISH, ops.update_schedule,
          "Change a schedule; only the fields sent change (Schedule.update)", "schedules",
          request_schema="UpdateScheduleRequest", response_schema="Schedule", errors=(400, 404, 409)),
    Route("POST", f"{_ID}/enable", "enableSchedule", ROLE_PUBLISH, ops.enable_schedule,
          "Enable a schedule; it fires from now on, not for the time it was disabled", "schedules",
          response_schema="Schedule", errors=(404, 409)),
    Route("POST", f"{_ID}/disable", "disableSchedule", ROLE_PUBLISH, ops.disable_schedule, "Disable a schedule",
          "schedules", response_schema="Schedule", errors=(404,)),
    Route("GET", f"{_ID}/runs", "listScheduleRuns", ROLE_READ, ops.list_schedule_runs,
          "Runs the schedule started, newest first (Schedule.get_pipeline_runs)", "schedules",
          response_schema="PipelineRunList", query=(_TOP,), errors=(400, 404)),
    Route("GET", f"{_ID}/runs/last", "getLastScheduleRun", ROLE_READ, ops.last_schedule_run,
          "The schedule's latest run (Schedule.get_last_pipeline_run); 404 NoRunYet before the first",
          "schedules", response_schema="PipelineRun", errors=(404,)),
    Route("GET", f"{_ID}/next", "getScheduleNextFireTimes", ROLE_READ, ops.next_fire_times,
          "The next fire times of a recurrence, in UTC and in its time zone", "schedules",
          response_schema="ScheduleFireTimes",
          query=(Param("count", "How many (1-100, default 5)", {"type": "integer"}),), errors=(400, 404)),
    Route("GET", f"{_ID}/history", "listScheduleDecisions", ROLE_READ, ops.schedule_history,
          "Every trigger decision (fired, or skipped: disabled, duplicate, debounced, failed), newest first",
          "schedules", response_schema="ScheduleDecisionList", query=(_TOP,), errors=(400, 404)),
    Route("GET", f"{API_PREFIX}/pipelines/{{pipeline_id}}/schedules", "listPipelineSchedules", ROLE_READ,
          ops.list_pipeline_schedules, "A published pipeline's schedules (Schedule.get_schedules_for_pipeline_id)",
          "schedules", response_schema="ScheduleList", errors=(404,)),
    Route("GET", f"{API_PREFIX}/pipelineendpoints/{{endpoint}}/schedules", "listPipelineEndpointSchedules",
          ROLE_READ, ops.list_endpoint_schedules,
          "A pipeline endpoint's schedules, by id or name (Schedule.get_schedules_for_pipeline_endpoint_id)",
          "schedules", response_schema="ScheduleList", errors=(404,)),
)
