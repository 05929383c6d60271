"""JSON Schemas (OpenAPI 3 components) of the request and response bodies in ``entities.py``/``submit_body.py``."""

from __future__ import annotations

from typing import Any

from pipeline_core.service.schedule_schemas import SCHEDULE_SCHEMAS
from pipeline_core.service.schema_parts import ref as _ref
from pipeline_core.service.schema_parts import string as _string
from pipeline_core.service.view_schemas import VIEW_SCHEMAS
from pipeline_core.spec import SCHEMA
from pipeline_core.status import RunStatus

STATUS_CODES = [str(status) for status in RunStatus]




_SCALAR = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_COUNT = {"type": "integer", "nullable": True}
_METRICS = {
    "type": "object", "additionalProperties": True,
    "description": "Only with ?metrics=true: what Run.get_context().log*() recorded, as AML's get_metrics() "
                   "returns it ({name: value, or a list of values, or {column: [values]}}; NaN and infinities "
                   "as the strings \"NaN\", \"Infinity\", \"-Infinity\")",
}
# Inline, not a $ref: OpenAPI 3.0 ignores ``nullable`` next to a $ref, and other steps have none.
_STEP_PROGRESS = {
    "type": "object", "nullable": True,
    "description": "A ParallelRunStep's items (files or rows) and mini-batches, updated while it runs; "
                   "null for other steps. Total is null until a tabular input's rows are counted.",
    "properties": {name: _COUNT for name in ("Total", "Processed", "Succeeded", "Failed", "MiniBatches",
                                             "FinishedMiniBatches", "FailedMiniBatches")},
}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["Value"], "properties": {"Value": {"type": "array", "items": _ref(name)}}}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
            "code": _string("Stable machine-readable code, e.g. InvalidParameterAssignment"),
            "message": _string("What was wrong and how to fix it"),
            "details": {"type": "array", "items": {"type": "object", "properties": {
                "target": _string("The field the detail is about"), "message": _string()}}}}}},
    },
    "PipelineSpec": {
        "type": "object", "required": ["schema", "steps"], "additionalProperties": True,
        "description": f"A built pipeline, as Pipeline.spec().to_json() returns it (schema {SCHEMA!r}).",
        "properties": {"schema": {"type": "string", "enum": [SCHEMA]}, "description": _string(),
                       "continue_on_step_failure": {"type": "boolean"},
                       "parameters": {"type": "object", "additionalProperties": {"type": "object"}},
                       "data": {"type": "object", "additionalProperties": {"type": "object"}},
                       "steps": {"type": "array", "items": {"type": "object"}},
                       "edges": {"type": "array", "items": {"type": "object"}}},
    },
    "PublishPipelineRequest": {
        "type": "object", "required": ["Name", "PipelineSpec"], "additionalProperties": False,
        "properties": {"Name": _string("Published pipeline name (at most 255 characters, none of / \\ # ?)"),
                       "Description": _string(nullable=True), "Version": _string(nullable=True),
                       "ContinueOnStepFailure": {"type": "boolean", "nullable": True},
                       "PipelineSpec": {"oneOf": [_ref("PipelineSpec"), {"type": "string"}],
                                        "description": "The spec object, or its JSON text. Every step's "
                                                       "snapshot must already be in the snapshots container."}},
    },
    "PipelineParameterDeclaration": {
        "type": "object", "properties": {"Type": {"type": "string", "enum": ["str", "int", "float", "bool",
                                                                            "datapath"]},
                                         "DefaultValue": {}},
    },
    "PublishedPipeline": {
        "type": "object",
        "properties": {"Id": _string(), "Name": _string(), "Description": _string(), "Version": _string(nullable=True),
                       "Status": {"type": "string", "enum": ["Active", "Disabled"]}, "GraphId": _string(),
                       "ContinueOnStepFailure": {"type": "boolean"}, "TotalRunSteps": {"type": "integer"},
                       "Parameters": {"type": "object",
                                      "additionalProperties": _ref("PipelineParameterDeclaration")},
                       "CreatedTime": _TIME, "UpdatedTime": _TIME,
                       "Endpoint": _string("URL to POST a SubmitPipelineRunRequest to"), "Url": _string()},
    },
    "PublishedPipelineList": _list_of("PublishedPipeline"),
    "CreatePipelineEndpointRequest": {
        "type": "object", "required": ["Name", "PipelineId"], "additionalProperties": False,
        "properties": {"Name": _string("Endpoint name (at most 255 characters, none of / \\ # ?)"),
                       "Description": _string(nullable=True),
                       "PipelineId": _string("The published pipeline that becomes version \"0\"")},
    },
    "AddPipelineEndpointVersionRequest": {
        "type": "object", "required": ["PipelineId"], "additionalProperties": False,
        "properties": {"PipelineId": _string("The published pipeline to add"),
                       "SetAsDefault": {"type": "boolean", "nullable": True,
                                        "description": "Also make it the default version (add_default)"}},
    },
    "SetPipelineEndpointDefaultVersionRequest": {
        "type": "object", "required": ["Version"], "additionalProperties": False,
        "properties": {"Version": {"oneOf": [{"type": "string", "pattern": "^[0-9]{1,10}$"},
                                             {"type": "integer", "minimum": 0, "maximum": 9999999999}],
                                   "description": "A version of the endpoint (\"0\", \"1\", ...)"}},
    },
    "PipelineEndpointVersion": {
        "type": "object",
        "properties": {"Version": _string(), "PipelineId": _string(), "CreatedTime": _TIME},
    },
    "PipelineEndpoint": {
        "type": "object",
        "properties": {"Id": _string(), "Name": _string(), "Description": _string(),
                       "Status": {"type": "string", "enum": ["Active", "Disabled"]},
                       "DefaultVersion": _string("The version a submit without ?version= runs"),
                       "Versions": {"type": "array", "items": _ref("PipelineEndpointVersion")},
                       "Endpoint": _string("URL to POST a SubmitPipelineRunRequest to (?version= picks a version)"),
                       "CreatedTime": _TIME, "UpdatedTime": _TIME},
    },
    "PipelineEndpointList": _list_of("PipelineEndpoint"),
    "DataPathAssignment": {
        "type": "object", "required": ["DataStoreName"], "additionalProperties": False,
        "properties": {"DataStoreName": _string(), "RelativePath": _string()},
    },
    "SubmitPipelineRunRequest": {
        "type": "object", "required": ["ExperimentName"],
        "description": "AML v1 submit body. Keys match case-insensitively. DataSetDefinitionValueAssignments "
                       "and other AML-only keys are accepted, ignored and recorded in the run's Notes.",
        "properties": {"ExperimentName": _string("1-255 letters, digits, '_' or '-'"),
                       "ParameterAssignments": {"type": "object", "additionalProperties": _SCALAR},
                       "DataPathAssignments": {"type": "object", "additionalProperties": _ref("DataPathAssignment")},
                       "Description": _string(nullable=True),
                       "Tags": {"type": "object", "additionalProperties": {"type": "string"}},
                       "RunSource": _string(nullable=True), "ContinueOnStepFailure": {"type": "boolean",
                                                                                     "nullable": True},
                       "RegenerateOutputs": {"type": "boolean", "nullable": True,
                                             "description": "Run every step, reusing no earlier output"},
                       "DataSetDefinitionValueAssignments": {"type": "object",
                                                             "description": "Accepted and ignored (recorded)"}},
    },
    "SubmitPipelineSpecRequest": {
        "allOf": [_ref("SubmitPipelineRunRequest"), {
            "type": "object", "required": ["PipelineSpec"],
            "properties": {"PipelineSpec": {"oneOf": [_ref("PipelineSpec"), {"type": "string"}],
                                            "description": "The spec object, or its JSON text. Every step's "
                                                           "snapshot must already be in the snapshots container "
                                                           "(the SDK uploads them first)."}}}],
        "description": "Submit an unpublished pipeline: the submit fields plus the pipeline's spec.",
    },
    "RunStatus": {
        "type": "object",
        "properties": {"StatusCode": {"type": "string", "enum": STATUS_CODES}, "StatusDetail": _string(nullable=True),
                       "CreationTime": _TIME, "StartTime": _TIME, "EndTime": _TIME},
    },
    "StepRun": {
        "type": "object",
        "properties": {"Id": _string(), "Name": _string(), "StepType": _string(), "Status": _ref("RunStatus"),
                       "IsReused": {"type": "boolean"}, "ReusedRunId": _string(nullable=True),
                       "Attempt": {"type": "integer", "description": "How many times the step has started in "
                                   "this run (a retry, or an activity delivered again after its host was lost); "
                                   "0 until it starts or when it was reused"},
                       "Outputs": {"type": "object", "additionalProperties": _ref("DataPathAssignment")},
                       "Error": {"type": "object", "nullable": True}, "LogUrl": _string(),
                       "Progress": _STEP_PROGRESS, "Metrics": _METRICS},
    },
    "StepRunList": _list_of("StepRun"),
    "PipelineRun": {
        "type": "object",
        "properties": {"Id": _string(), "ExperimentName": _string(), "RunHistoryExperimentName": _string(),
                       "PipelineId": _string(nullable=True), "PipelineEndpointId": _string(nullable=True),
                       "GraphId": _string(), "Status": _ref("RunStatus"),
                       "ParameterAssignments": {"type": "object", "additionalProperties": _SCALAR},
                       "DataPathAssignments": {"type": "object", "additionalProperties": _ref("DataPathAssignment")},
                       "Description": _string(), "Tags": {"type": "object",
                                                          "additionalProperties": {"type": "string"}},
                       "RunSource": _string(), "ContinueOnStepFailure": {"type": "boolean"},
                       "RegenerateOutputs": {"type": "boolean"}, "Error": {"type": "object", "nullable": True},
                       "Notes": {"type": "array", "items": {"type": "string"}},
                       "RunUrl": _string("URL of this run"), "Metrics": _METRICS,
                       "Steps": {"type": "array", "items": _ref("StepRun"),
                                 "description": "Only when asked for (?steps=true)"}},
    },
    "PipelineRunList": _list_of("PipelineRun"),
    "OpenApiDocument": {"type": "object", "description": "This document"},
}
SCHEMAS.update(SCHEDULE_SCHEMAS)
SCHEMAS.update(VIEW_SCHEMAS)
