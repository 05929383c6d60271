"""The OpenAPI components: the shared schemas (``Error``, ``PipelineSpec``) and every resource's own.

Each resource package keeps the schemas of its bodies and answers in its
``schemas.py``; they are gathered here in the document's order.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.endpoints.schemas import SCHEMAS as ENDPOINT_SCHEMAS
from pipeline_core.rest.pipelines.schemas import SCHEMAS as PIPELINE_SCHEMAS
from pipeline_core.rest.runs.schemas import SCHEMAS as RUN_SCHEMAS
from pipeline_core.rest.schedules.schemas import SCHEMAS as SCHEDULE_SCHEMAS
from pipeline_core.rest.schema_parts import string as _string
from pipeline_core.rest.views.schemas import SCHEMAS as VIEW_SCHEMAS
from pipeline_core.spec import SCHEMA

SHARED_SCHEMAS: dict[str, dict[str, Any]] = {
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
}

SCHEMAS: dict[str, dict[str, Any]] = {
    **SHARED_SCHEMAS, **PIPELINE_SCHEMAS, **ENDPOINT_SCHEMAS, **RUN_SCHEMAS,
    "OpenApiDocument": {"type": "object", "description": "This document"},
    **SCHEDULE_SCHEMAS, **VIEW_SCHEMAS,
}
