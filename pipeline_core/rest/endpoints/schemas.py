"""OpenAPI schemas of the pipeline-endpoint bodies (``body.py``) and answers (``entities.py``)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.schema_parts import TIME as _TIME
from pipeline_core.rest.schema_parts import list_of as _list_of
from pipeline_core.rest.schema_parts import ref as _ref
from pipeline_core.rest.schema_parts import string as _string

SCHEMAS: dict[str, dict[str, Any]] = {
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
    "RenamePipelineEndpointRequest": {
        "type": "object", "required": ["Name"], "additionalProperties": False,
        "properties": {"Name": {"type": "string", "minLength": 1, "maxLength": 255,
                                "description": "The endpoint's new name"}},
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
}
