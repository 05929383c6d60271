"""Route handlers for pipeline endpoints: create, list, get, add a version, set the default, enable, disable.

What ``PipelineEndpoint`` does from Python, over HTTP, so a remote SDK (or a
plain REST caller holding only the app URL and a token) manages endpoints
without access to the storage account. Every check is the one the SDK's local
path makes (``publishing.py`` and the endpoint store are shared); only the
body parsing (``body.py``) is REST's own. Each body is read completely before anything is looked
up, so a malformed request is a 400 naming the field even when it also names
an unknown pipeline.

Conventions of the neighbouring pipeline routes: ``POST`` to create answers 201
with ``Location``; enable/disable answer the entity and are safe to repeat;
adding a pipeline that is already a version of the endpoint returns that
version instead of a second one, so a retried add is harmless too. Concurrent
changes are ETag-guarded in the store (a lost race is retried there, then 409).
"""

from __future__ import annotations

from typing import Any

from pipeline_core.application.publishing import add_endpoint_version, publish_endpoint, set_endpoint_status
from pipeline_core.application.publishing import rename_endpoint as publishing_rename
from pipeline_core.application.stores import endpoint_store
from pipeline_core.engine.services import Services
from pipeline_core.rest.body import query_bool
from pipeline_core.rest.endpoints.body import (
    parse_add_version,
    parse_create,
    parse_default_version,
    parse_rename,
)
from pipeline_core.rest.endpoints.entities import endpoint_entity
from pipeline_core.rest.errors import bad_request
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.links import endpoint_url
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.storage.endpoint_store import EndpointRecord

#: How ``GET /api/pipelineendpoints/{endpoint}`` reads its route value (``?by=``).
LOOKUPS = ("id", "name")


def _entity(services: Services, record: EndpointRecord, request: ServiceRequest) -> dict[str, Any]:
    return endpoint_entity(record, endpoint_store(services).versions(record.name), request.base)


def _answer(services: Services, record: EndpointRecord, request: ServiceRequest,
            status: int = 200) -> ServiceResponse:
    headers = {"Location": endpoint_url(request.base, record.id)} if status == 201 else {}
    return ServiceResponse(status, _entity(services, record, request), headers)


def _endpoint(services: Services, request: ServiceRequest) -> EndpointRecord:
    """The endpoint the route names, by id or name (as the submit and schedule routes resolve it)."""
    return endpoint_store(services).resolve(route_key(request, "pipeline endpoint", "endpoint"))


# -- create / read ------------------------------------------------------------------------
def create_endpoint(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelineendpoints (``PipelineEndpoint.publish``): version "0" is the given published pipeline."""
    new = parse_create(request.body)
    return _answer(services, publish_endpoint(services, new.name, new.description, new.pipeline_id), request, 201)


def list_endpoints(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/pipelineendpoints (``PipelineEndpoint.list``), by name."""
    records = endpoint_store(services).list(active_only=query_bool(request, "active_only", True))
    return ServiceResponse(200, {"Value": [_entity(services, r, request) for r in records]})


def get_endpoint(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/pipelineendpoints/{endpoint}[?by=id|name] (``PipelineEndpoint.get(ws, id=|name=)``).

    Without ``by`` the value is tried as an id, then as a name, like every other
    ``{endpoint}`` route; the SDK pins it, so a name can never pick up an id.
    """
    store = endpoint_store(services)
    by = (request.query_value("by") or "").strip().lower()
    if by and by not in LOOKUPS:
        raise bad_request(f"query parameter 'by' must be 'id' or 'name', not {request.query_value('by')!r}; leave "
                          "it out to try the value as an id, then as a name", "by", "InvalidQuery")
    value = route_key(request, "pipeline endpoint", "endpoint")
    if by == "id":
        record = store.get(value)
    elif by == "name":
        record = store.get_by_name(value)
    else:
        record = store.resolve(value)
    return _answer(services, record, request)


# -- change ---------------------------------------------------------------------------------
def add_version(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelineendpoints/{endpoint}/versions (``add`` / ``add_default``): the next version.

    A pipeline already on the endpoint keeps its version (and becomes the default
    when asked), so repeating the request changes nothing more.
    """
    pipeline_id, make_default = parse_add_version(request.body)
    endpoint = _endpoint(services, request)
    add_endpoint_version(services, endpoint, pipeline_id, make_default)
    return _answer(services, endpoint_store(services).get_by_name(endpoint.name), request)


def set_default_version(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelineendpoints/{endpoint}/defaultversion (``set_default_version``); 404 names the versions."""
    version = parse_default_version(request.body)
    endpoint = _endpoint(services, request)
    return _answer(services, endpoint_store(services).set_default(endpoint.name, version), request)


def rename_endpoint(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelineendpoints/{endpoint}/name (``set_name``); 409 NameTaken when the name is in use."""
    name = parse_rename(request.body)
    return _answer(services, publishing_rename(services, _endpoint(services, request), name), request)


def enable_endpoint(services: Services, request: ServiceRequest) -> ServiceResponse:
    return _answer(services, set_endpoint_status(services, _endpoint(services, request), enable=True), request)


def disable_endpoint(services: Services, request: ServiceRequest) -> ServiceResponse:
    """Refused (409 EndpointHasActiveSchedules) while an active schedule submits to the endpoint."""
    return _answer(services, set_endpoint_status(services, _endpoint(services, request), enable=False), request)
