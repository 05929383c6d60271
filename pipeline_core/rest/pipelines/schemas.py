"""OpenAPI schemas of the published-pipeline bodies (``handlers.py``) and answers (``entities.py``)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.schema_parts import TIME as _TIME
from pipeline_core.rest.schema_parts import list_of as _list_of
from pipeline_core.rest.schema_parts import ref as _ref
from pipeline_core.rest.schema_parts import string as _string

SCHEMAS: dict[str, dict[str, Any]] = {
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
}
