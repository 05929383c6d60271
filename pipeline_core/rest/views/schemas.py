"""OpenAPI schemas of the run view's answers (``run_view.py``, ``handlers.py``, ``output_files.py``)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.schema_parts import ref as _ref
from pipeline_core.rest.schema_parts import string as _s
from pipeline_core.status import RunStatus

_TIME = {"type": "string", "format": "date-time", "nullable": True}
_SECONDS = {"type": "number", "nullable": True, "description": "Seconds from start to end (to now while running)"}
_INT = {"type": "integer"}
_NULLABLE_INT = {"type": "integer", "nullable": True}
_PROGRESS = {"type": "object", "nullable": True, "additionalProperties": _NULLABLE_INT,
             "description": "A ParallelRunStep's counts (as StepRun.Progress); null for other steps"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "RunViewStep": {
        "type": "object",
        "properties": {
            "Name": _s(), "Index": _INT, "StepType": _s(), "Status": _s(", ".join(RunStatus)),
            "IsReused": {"type": "boolean"}, "ReusedRunId": _s(nullable=True),
            "Reuse": _s("Why it ran or was reused, as `amlite show` prints it"),
            "StartTime": _TIME, "EndTime": _TIME, "Duration": _SECONDS, "DurationText": _s(),
            "Attempt": _INT, "MaxAttempts": _INT, "Error": _s(nullable=True), "Progress": _PROGRESS,
            "ProgressText": _s(),
            "Outputs": {"type": "array", "items": {"type": "object", "properties": {
                "Name": _s(), "DataStoreName": _s(nullable=True), "RelativePath": _s(nullable=True),
                "Count": _NULLABLE_INT}}}},
    },
    "RunView": {
        "type": "object", "required": ["Run", "Steps", "Edges"],
        "properties": {
            "Run": {"type": "object", "properties": {
                "Id": _s(), "ExperimentName": _s(), "Status": _s(), "Terminal": {"type": "boolean"},
                "CreationTime": _TIME, "StartTime": _TIME, "EndTime": _TIME, "Duration": _SECONDS,
                "DurationText": _s(), "Trigger": _s("RunSource, with the schedule id for a scheduled run"),
                "RunSource": _s(), "ScheduleId": _s(nullable=True), "PipelineId": _s(nullable=True),
                "PipelineEndpointId": _s(nullable=True), "GraphId": _s(nullable=True), "Description": _s(),
                "SubmittedBy": _s(nullable=True), "ParameterAssignments": {"type": "object"},
                "DataPathAssignments": {"type": "object"}, "Error": _s(nullable=True),
                "Notes": {"type": "array", "items": _s()}}},
            "Steps": {"type": "array", "items": _ref("RunViewStep")},
            "Edges": {"type": "array", "items": {"type": "object", "properties": {
                "From": _s(), "To": _s(), "Kind": {"type": "string", "enum": ["data", "run_after"]},
                "Data": _s("The data the edge carries (data edges)", nullable=True)}}},
            "StatusCounts": {"type": "object", "additionalProperties": _INT}},
    },
    "OutputFileList": {
        "type": "object", "required": ["Value"],
        "properties": {
            "Output": _s(), "DataStoreName": _s(), "RelativePath": _s("The output's folder on the datastore"),
            "Value": {"type": "array", "items": {"type": "object", "properties": {
                "Path": _s("Inside the output"), "Size": _INT, "LastModified": _TIME}}},
            "Continuation": _s("Pass as ?continuation= for the next page; null on the last", nullable=True)},
    },
    "MiniBatchList": {
        "type": "object", "required": ["Value"],
        "properties": {
            "Value": {"type": "array", "items": {"type": "object", "properties": {
                "Index": _INT, "Status": _s("succeeded or failed"), "Tries": _INT, "Items": _INT,
                "FailedItems": _INT, "Error": _s(nullable=True), "FirstErrorLine": _s(nullable=True),
                "Inputs": {"type": "array", "items": _s()}}}},
            "NextAfter": {"type": "integer", "nullable": True,
                          "description": "Pass as ?after= for the next page; null on the last"}},
    },
    "MiniBatchMap": {
        "type": "object", "required": ["Count", "Statuses"],
        "properties": {"Count": _INT,
                       "Statuses": _s("One character per mini-batch: s succeeded, f failed, . not done yet")},
    },
    "ResubmitRunRequest": {
        "type": "object", "additionalProperties": False,
        "description": "A submit body whose fields are all optional: ExperimentName defaults to the run's, "
                       "parameters not assigned keep the run's values",
        "properties": {"ExperimentName": _s(), "ParameterAssignments": {"type": "object"},
                       "DataPathAssignments": {"type": "object",
                                               "additionalProperties": _ref("DataPathAssignment")},
                       "Description": _s(nullable=True), "Tags": {"type": "object"}, "RunSource": _s(),
                       "ContinueOnStepFailure": {"type": "boolean", "nullable": True},
                       "RegenerateOutputs": {"type": "boolean"}},
    },
}
