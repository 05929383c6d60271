"""How a route is declared and matched, and how its handler's refusals become answers.

Every resource package (``rest/pipelines``, ``rest/endpoints``, ``rest/runs``,
``rest/schedules``, ``rest/views``) declares its routes with :class:`Route`;
``rest/routes.py`` gathers them into the one table. Route fields are
keyword-only: a declaration reads as ``Route(method="GET", path=..., role=...)``,
so adding a field never shifts the meaning of another.

Path templates use ``{param}``; AML v1 aliases keep AML's URL shape
(``/api/pipelines/v1.0/subscriptions/{subscription_id}/...``) and accept any
values in the subscription/resource group/workspace segments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from pipeline_core.engine.services import Services
from pipeline_core.rest.errors import ServiceError, from_exception
from pipeline_core.rest.request import ServiceRequest, ServiceResponse

log = logging.getLogger("amlite.service")

API_PREFIX = "/api"
AML_PREFIX = (f"{API_PREFIX}/pipelines/v1.0/subscriptions/{{subscription_id}}/resourceGroups/{{resource_group}}"
              "/providers/Microsoft.MachineLearningServices/workspaces/{workspace_name}")

Handler = Callable[[Services, ServiceRequest], ServiceResponse]
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Param:
    """A query parameter or request header a route reads (documented in OpenAPI)."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True, kw_only=True)
class Route:
    """One HTTP route: what it matches, who may call it, what answers, and how OpenAPI documents it."""

    method: str
    path: str
    operation_id: str
    role: str
    handler: Handler
    summary: str
    tag: str
    success_status: int = 200
    request_schema: str | None = None
    response_schema: str | None = None
    response_content_type: str = "application/json"
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    response_headers: tuple[str, ...] = ()
    errors: tuple[int, ...] = (400, 404)
    alias_of: str | None = None

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/")

    @property
    def path_params(self) -> list[str]:
        return [m.group(1) for s in self.segments if (m := _PARAM.match(s))]

    @property
    def function_route(self) -> str:
        """The template for ``@app.route(route=...)``: the host adds ``api/`` itself."""
        return self.path[len(API_PREFIX) + 1:]

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if not _PARAM.match(s))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Route values (URL-decoded) when ``method`` and ``path`` fit this route, else None."""
        if method.upper() != self.method:
            return None
        parts = _split(path)
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        for template, actual in zip(self.segments, parts, strict=True):
            param = _PARAM.match(template)
            if param:
                if not actual:
                    return None
                values[param.group(1)] = unquote(actual)
            elif template.lower() != actual.lower():
                return None
        return values


def _split(path: str) -> list[str]:
    path = path.split("?", 1)[0]
    if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
        path = API_PREFIX + "/" + path.lstrip("/")
    return path.strip("/").split("/")


def error_response(error: ServiceError) -> ServiceResponse:
    return ServiceResponse(error.status, error.to_body(), dict(error.headers))


def handle(services: Services, route: Route, request: ServiceRequest) -> ServiceResponse:
    """Run ``route``'s handler; refusals become their 4xx answer. Only a real server fault raises (a 500)."""
    try:
        return route.handler(services, request)
    except Exception as exc:
        error = from_exception(exc)
        if error is None:
            log.exception("%s %s failed", route.method, route.path)
            raise
        return error_response(error)
