"""The route table: every HTTP route of the amlite API, gathered from the resource packages.

The Functions HTTP layer registers exactly these (``Route.function_route`` is
the route template without the host's ``api/`` prefix), checks ``Route.role``
with :func:`pipeline_core.auth.authenticate`, and calls :func:`handle`. The
OpenAPI document is generated from the same table, so the served document and
the served routes cannot drift apart.

Each resource declares its own routes (``rest/<resource>/routes.py``); this
module only concatenates them (in the order the OpenAPI document lists them),
serves the document itself, and matches a path to a route. Nothing imports
this module back, so it has no import cycle to hold together.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeline_core.auth import ROLE_READ
from pipeline_core.engine.services import Services
from pipeline_core.rest.endpoints.routes import ROUTES as ENDPOINT_ROUTES
from pipeline_core.rest.errors import ServiceError
from pipeline_core.rest.openapi import build_document
from pipeline_core.rest.pipelines.routes import ROUTES as PIPELINE_ROUTES
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.routing import API_PREFIX, Route, error_response, handle
from pipeline_core.rest.runs.routes import AML_ROUTES
from pipeline_core.rest.runs.routes import ROUTES as RUN_ROUTES
from pipeline_core.rest.schedules.routes import ROUTES as SCHEDULE_ROUTES
from pipeline_core.rest.schemas import SCHEMAS
from pipeline_core.rest.views.routes import ROUTES as VIEW_ROUTES

__all__ = ["ROUTES", "Route", "dispatch", "handle", "match_route", "methods_for", "openapi_document", "route_for"]


def openapi_document(base_url: str) -> dict[str, Any]:
    """Every route of :data:`ROUTES`, nothing else; ``base_url`` is the public base URL (``rest.public_url``)."""
    return build_document(ROUTES, SCHEMAS, base_url)


def _openapi(services: Services, request: ServiceRequest) -> ServiceResponse:
    return ServiceResponse(200, openapi_document(request.base))


OPENAPI_ROUTE = Route(method="GET", path=f"{API_PREFIX}/openapi.json", operation_id="getOpenApiDocument",
                      role=ROLE_READ, handler=_openapi, summary="This OpenAPI document", tag="meta",
                      response_schema="OpenApiDocument", errors=())

ROUTES: tuple[Route, ...] = (*PIPELINE_ROUTES, *ENDPOINT_ROUTES, *RUN_ROUTES, OPENAPI_ROUTE, *AML_ROUTES,
                             *SCHEDULE_ROUTES, *VIEW_ROUTES)

_BY_OPERATION = {route.operation_id: route for route in ROUTES}
# Literal segments win over parameters (as ASP.NET Core routing decides), so
# ".../PipelineRuns/PipelineSubmit/x" is a submit, not the run "PipelineSubmit".
_BY_PRECEDENCE = sorted(ROUTES, key=lambda r: (-r.literal_count, r.path))


def route_for(operation_id: str) -> Route:
    return _BY_OPERATION[operation_id]


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in _BY_PRECEDENCE:
        values = route.match(method, path)
        if values is not None:
            return route, values
    return None


def methods_for(path: str) -> list[str]:
    """Methods some route accepts at ``path`` (for a 405 ``Allow`` header)."""
    return sorted({r.method for r in ROUTES for m in ("GET", "POST") if r.match(m, path) is not None})


def dispatch(services: Services, method: str, path: str, request: ServiceRequest) -> ServiceResponse:
    """Match ``path`` against the table and handle it (used by tests and the local dev host)."""
    found = match_route(method, path)
    if found is None:
        allowed = methods_for(path)
        if allowed:
            return error_response(ServiceError(405, "MethodNotAllowed",
                                               f"{method} is not allowed on {path}; use {', '.join(allowed)}"))
        return error_response(ServiceError(404, "RouteNotFound", f"no API route matches {path}; "
                                                                 f"see {API_PREFIX}/openapi.json"))
    route, values = found
    routed = replace(request, route_params=values, method=method.upper())
    return handle(services, route, routed)
