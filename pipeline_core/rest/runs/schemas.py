"""OpenAPI schemas of the submit bodies (``body.py``) and the run and step answers (``entities.py``)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.schema_parts import TIME as _TIME
from pipeline_core.rest.schema_parts import list_of as _list_of
from pipeline_core.rest.schema_parts import ref as _ref
from pipeline_core.rest.schema_parts import string as _string
from pipeline_core.status import RunStatus

STATUS_CODES = [str(status) for status in RunStatus]
_SCALAR = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
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


SCHEMAS: dict[str, dict[str, Any]] = {
    "DataPathAssignment": {
        "type": "object", "required": ["DataStoreName"], "additionalProperties": False,
        "properties": {"DataStoreName": _string(), "RelativePath": _string()},
    },
    "SubmitPipelineRunRequest": {
        "type": "object", "required": ["ExperimentName"],
        "description": "AML v1 submit body. Keys match case-insensitively. Other AML-only keys are accepted, "
                       "ignored and recorded in the run's Notes.",
        "properties": {"ExperimentName": _string("1-255 letters, digits, '_' or '-'"),
                       "ParameterAssignments": {"type": "object", "additionalProperties": _SCALAR},
                       "DataPathAssignments": {"type": "object", "additionalProperties": _ref("DataPathAssignment")},
                       "Description": _string(nullable=True),
                       "Tags": {"type": "object", "additionalProperties": {"type": "string"}},
                       "RunSource": _string(nullable=True), "ContinueOnStepFailure": {"type": "boolean",
                                                                                     "nullable": True},
                       "RegenerateOutputs": {"type": "boolean", "nullable": True,
                                             "description": "Run every step, reusing no earlier output"},
                       "DataSetDefinitionValueAssignments": {
                           "type": "object", "additionalProperties": _ref("DataSetDefinitionValue"),
                           "description": "A registered dataset for each dataset parameter (AML v1)"}},
    },
    "DataSetDefinitionValue": {
        "type": "object",
        "description": "A registered dataset: DataSetReference by Name (+ Version, default latest) or Id; or "
                       "SavedDataSetReference by Id.",
        "properties": {"DataSetReference": {"type": "object", "properties": {
                           "Id": _string(nullable=True), "Name": _string(nullable=True),
                           "Version": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}}},
                       "SavedDataSetReference": {"type": "object", "properties": {"Id": _string()}}},
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
                       "Progress": _STEP_PROGRESS, "Metrics": _METRICS,
                       "Remote": {"type": "object", "nullable": True,
                                  "description": "A step whose work runs elsewhere (DatabricksStep): its handle "
                                                 "there (the Databricks run id and workspace), its last state and "
                                                 "the service's run (run_page_url, life_cycle_state, result_state); "
                                                 "null for other steps"},
                       "ChildRuns": {"type": "array", "description": "The step's child runs (a HyperDriveStep's "
                                     "or an AutoMLStep's trials), in the order they started; absent for other "
                                     "steps",
                                     "items": _ref("ChildRun")}},
    },
    "ChildRun": {
        "type": "object",
        "properties": {"Id": _string(), "Name": _string(), "Status": _ref("RunStatus"),
                       "Parameters": {"type": "object", "description": "The sampled hyperparameters"},
                       "Error": {"type": "object", "nullable": True}, "Metrics": _METRICS},
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
}
