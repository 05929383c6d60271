"""OpenAPI schemas of the schedule bodies (``body.py``) and answers (``entities.py``)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.schema_parts import ref as _ref
from pipeline_core.rest.schema_parts import string as _s

_TIME = {"type": "string", "format": "date-time", "nullable": True}
_BOOL = {"type": "boolean", "nullable": True}
_PARAMS = {"type": "object", "additionalProperties": {"oneOf": [
    {"type": "string"}, {"type": "number"}, {"type": "boolean"}, _ref("DataPathAssignment")]},
    "description": "Pipeline parameter values every run gets (a DataPath as {DataStoreName, RelativePath})"}
_DEFINITION: dict[str, Any] = {
    "Name": _s("Schedule name (at most 255 characters)"),
    "Description": _s(nullable=True),
    "Recurrence": {"allOf": [_ref("ScheduleRecurrence")], "nullable": True,
                   "description": "Time-based schedule; mutually exclusive with DataStoreName"},
    "PipelineParameters": _PARAMS,
    "DataStoreName": _s("Data-change schedule: the Azure Blob datastore to watch; mutually exclusive with "
                        "Recurrence", nullable=True),
    "PathOnDataStore": _s("Folder (or blob) on the datastore to watch; default the whole container", nullable=True),
    "Recursive": {"type": "boolean", "nullable": True,
                  "description": "Also watch sub-folders of PathOnDataStore (default true; AML watches none)"},
    "PollingInterval": {"type": "integer", "nullable": True, "description": "Minutes between polls (1-1440, "
                                                                            "default 5)"},
    "DataPathParameterName": _s("DataPath pipeline parameter that receives the changed blob", nullable=True),
    "DebounceSeconds": {"type": "number", "nullable": True,
                        "description": "Hold a change this long; a later one in the window replaces it (0 = off)"},
    "ContinueOnStepFailure": _BOOL,
    "WaitForProvisioning": {"type": "boolean", "nullable": True, "description": "Accepted and ignored"},
    "WaitTimeout": {"type": "integer", "nullable": True, "description": "Accepted and ignored"},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ScheduleRecurrence": {
        "type": "object", "required": ["Frequency", "Interval"], "additionalProperties": False,
        "properties": {
            "Frequency": {"type": "string", "enum": ["Minute", "Hour", "Day", "Week", "Month"],
                          "description": "Aliases Minutely, Hourly, Daily, Weekly, Monthly are accepted"},
            "Interval": {"type": "integer", "minimum": 1},
            "StartTime": _s("Wall-clock start in TimeZone, e.g. 2024-01-31T09:00:00", nullable=True),
            "TimeZone": _s("Windows id (GMT Standard Time) or IANA name; default UTC", nullable=True),
            "Hours": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 23}, "nullable": True},
            "Minutes": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 59},
                        "nullable": True},
            "WeekDays": {"type": "array", "items": {"type": "string"}, "nullable": True},
            "TimeOfDay": _s("HH:MM", nullable=True)},
    },
    "CreateScheduleRequest": {
        "type": "object", "required": ["Name", "ExperimentName"], "additionalProperties": False,
        "description": "Schedule.create (PipelineId) or create_for_pipeline_endpoint (PipelineEndpointId); give "
                       "Recurrence or DataStoreName, not both.",
        "properties": {**_DEFINITION, "ExperimentName": _s("1-255 letters, digits, '_' or '-'"),
                       "PipelineId": _s(nullable=True), "PipelineEndpointId": _s(nullable=True),
                       "RunNow": {"type": "boolean", "nullable": True,
                                  "description": "Recurrence without StartTime: run right away (default true)"}},
    },
    "UpdateScheduleRequest": {
        "type": "object", "additionalProperties": False, "description": "Schedule.update: only given fields change",
        "properties": {**_DEFINITION, "Status": {"type": "string", "enum": ["Active", "Disabled"]}},
    },
    "Schedule": {
        "type": "object",
        "properties": {
            "Id": _s(), "Name": _s(), "Description": _s(), "Status": {"type": "string", "enum": ["Active",
                                                                                               "Disabled"]},
            "ProvisioningStatus": _s(), "Kind": {"type": "string", "enum": ["Recurrence", "DataChange"]},
            "PipelineId": _s(nullable=True), "PipelineEndpointId": _s(nullable=True), "ExperimentName": _s(),
            "Recurrence": {"allOf": [_ref("ScheduleRecurrence")], "nullable": True},
            "PipelineParameters": _PARAMS, "ContinueOnStepFailure": _BOOL,
            "DataStoreName": _s(nullable=True), "PathOnDataStore": _s(nullable=True), "Recursive": {"type": "boolean"},
            "PollingInterval": {"type": "integer"}, "DataPathParameterName": _s(nullable=True),
            "DebounceSeconds": {"type": "number"}, "NextFireTime": _TIME, "LastFireTime": _TIME,
            "LastRunId": _s(nullable=True),
            "PendingChange": {"type": "object", "nullable": True, "description": "A change held by the debounce "
                                                                                 "window"},
            "CreatedTime": _TIME, "UpdatedTime": _TIME, "Url": _s()},
    },
    "ScheduleList": {"type": "object", "required": ["Value"],
                     "properties": {"Value": {"type": "array", "items": _ref("Schedule")}}},
    "ScheduleDecision": {
        "type": "object",
        "properties": {"Decision": {"type": "string", "enum": ["fired", "skipped"]},
                       "Reason": _s("skipped: disabled, duplicate, debounced or failed", nullable=True),
                       "Trigger": _s("run-now, recurrence, catch-up, blob-trigger, poll or debounce"),
                       "RunId": _s(nullable=True), "FireTime": _TIME, "DataStoreName": _s(nullable=True),
                       "Blob": _s(nullable=True), "ETag": _s(nullable=True), "Message": _s(nullable=True),
                       "Time": _TIME},
    },
    "ScheduleDecisionList": {"type": "object", "required": ["Value"],
                             "properties": {"Value": {"type": "array", "items": _ref("ScheduleDecision")}}},
    "ScheduleFireTimes": {
        "type": "object",
        "properties": {"TimeZone": _s(), "Value": {"type": "array", "items": {"type": "object", "properties": {
            "Time": _s("UTC"), "LocalTime": _s("In the schedule's time zone, with its offset")}}}},
    },
}
