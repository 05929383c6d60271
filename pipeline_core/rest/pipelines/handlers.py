"""Route handlers for published pipelines: publish, list, get, enable, disable.

Each handler takes ``(services, request)`` and returns a ``ServiceResponse`` or
raises ``ServiceError``; ``routes.py`` next to this says which URL calls which.
"""

from __future__ import annotations

from pipeline_core.application.publishing import check_name, publish_spec, set_pipeline_status
from pipeline_core.application.stores import pipeline_store
from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError
from pipeline_core.rest.body import Fields, parse_json_object, query_bool
from pipeline_core.rest.errors import bad_request
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.links import pipeline_url
from pipeline_core.rest.pipelines.body import PUBLISH_EXAMPLE, PUBLISH_FIELDS, checked_spec, spec_document
from pipeline_core.rest.pipelines.entities import pipeline_entity
from pipeline_core.rest.request import ServiceRequest, ServiceResponse


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
