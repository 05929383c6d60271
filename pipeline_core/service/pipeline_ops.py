"""Route handlers for published pipelines: publish, list, get, enable, disable.

Each handler takes ``(services, request)`` and returns a ``ServiceResponse`` or
raises ``ServiceError``; the route table (``routes.py``) says which URL calls which.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError
from pipeline_core.service.body import Fields, json_type, parse_json_object, query_bool
from pipeline_core.service.entities import pipeline_entity, pipeline_url
from pipeline_core.service.errors import ServiceError, bad_request
from pipeline_core.service.keys import route_key
from pipeline_core.service.publishing import (
    check_name,
    data_check,
    missing_snapshots,
    publish_spec,
    set_pipeline_status,
    snapshot_files,
)
from pipeline_core.service.request import ServiceRequest, ServiceResponse
from pipeline_core.service.spec_check import check_spec_document
from pipeline_core.service.stores import pipeline_store
from pipeline_core.spec import PipelineSpec
from pipeline_core.spec_types import as_spec_doc
from pipeline_core.validation import validate_spec

PUBLISH_FIELDS = ("Name", "Description", "Version", "ContinueOnStepFailure", "PipelineSpec")
PUBLISH_EXAMPLE = '{"Name": "train", "Version": "1", "PipelineSpec": {...Pipeline.spec().to_json()...}}'


def spec_document(value: Any) -> dict[str, Any]:
    """``PipelineSpec`` as an object, or as the JSON text ``PipelineSpec.to_json()`` returns."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise bad_request(f"PipelineSpec is a string but not valid JSON ({exc.msg} at line {exc.lineno}); "
                              "send the spec object or the text of Pipeline.spec().to_json()", "PipelineSpec",
                              "InvalidPipelineSpec") from None
    if not isinstance(value, dict):
        raise bad_request(f"PipelineSpec must be a JSON object, not {json_type(value)}", "PipelineSpec",
                          "InvalidPipelineSpec")
    problems = check_spec_document(value)
    if problems:
        raise ServiceError(400, "InvalidPipelineSpec", "PipelineSpec is malformed: " + "; ".join(problems[:5]),
                           [{"target": getattr(p, "target", "PipelineSpec"), "message": p} for p in problems])
    doc = {k: v for k, v in value.items() if k not in ("graph_id", "local")}
    doc.setdefault("parameters", {})
    doc.setdefault("data", {})
    doc.setdefault("edges", [])
    return doc


def checked_spec(services: Services, doc: dict[str, Any]) -> PipelineSpec:
    """A posted spec that is safe to store and run: snapshots uploaded, graph valid (publish and ``POST /api/runs``)."""
    spec = PipelineSpec(as_spec_doc(doc))
    snapshots = missing_snapshots(services, spec)
    if snapshots:
        raise ServiceError(400, "SnapshotMissing", snapshots[0],
                           [{"target": "PipelineSpec.steps", "message": m} for m in snapshots])
    try:
        errors = validate_spec(spec, data_check(services), snapshot_files(services))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad_request(f"PipelineSpec could not be validated ({type(exc).__name__}: {exc}); send the spec "
                          "exactly as Pipeline.spec().to_json() built it", "PipelineSpec",
                          "InvalidPipelineSpec") from None
    if errors:
        raise ServiceError(400, "PipelineValidationFailed", "the pipeline is not valid: " + "; ".join(errors[:5]),
                           [{"target": getattr(e, "target", "PipelineSpec"), "message": e} for e in errors])
    return spec


def publish_pipeline(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelines: the snapshots must already be uploaded; the spec is stored content-addressed."""
    fields = Fields(parse_json_object(request.body, "publish", PUBLISH_EXAMPLE), PUBLISH_FIELDS)
    name = fields.string("Name", required=True, max_length=255)
    try:
        check_name(name, "Name")
    except AmliteError as exc:
        raise bad_request(str(exc), "Name", "InvalidField") from None
    description = fields.string("Description", max_length=4096)
    version = fields.string("Version", max_length=255)
    continue_on_step_failure = fields.boolean("ContinueOnStepFailure")
    if not fields.present("PipelineSpec"):
        raise bad_request("PipelineSpec is required: the pipeline's spec (Pipeline.spec().to_json())",
                          "PipelineSpec", "MissingField")
    spec = checked_spec(services, spec_document(fields.values["PipelineSpec"]))
    record = publish_spec(services, spec, name, description, version, continue_on_step_failure)
    return ServiceResponse(201, pipeline_entity(record, request.base),
                           {"Location": pipeline_url(request.base, record.id)})


def list_pipelines(services: Services, request: ServiceRequest) -> ServiceResponse:
    active_only = query_bool(request, "active_only", True)
    name = request.query_value("name") or None
    records = pipeline_store(services).list(active_only=active_only, name=name)
    return ServiceResponse(200, {"Value": [pipeline_entity(r, request.base) for r in records]})


def get_pipeline(services: Services, request: ServiceRequest) -> ServiceResponse:
    record = pipeline_store(services).get(route_key(request, "published pipeline", "pipeline_id"))
    return ServiceResponse(200, pipeline_entity(record, request.base))


def enable_pipeline(services: Services, request: ServiceRequest) -> ServiceResponse:
    record = set_pipeline_status(services, route_key(request, "published pipeline", "pipeline_id"), enable=True)
    return ServiceResponse(200, pipeline_entity(record, request.base))


def disable_pipeline(services: Services, request: ServiceRequest) -> ServiceResponse:
    record = set_pipeline_status(services, route_key(request, "published pipeline", "pipeline_id"), enable=False)
    return ServiceResponse(200, pipeline_entity(record, request.base))
