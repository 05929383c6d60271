"""The REST layer's entry points in one import (the route table, handling, request/response values)."""

from pipeline_core.rest.errors import ServiceError
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.routes import ROUTES, dispatch, match_route, openapi_document, route_for
from pipeline_core.rest.routing import Route, handle

__all__ = ["ROUTES", "Route", "ServiceError", "ServiceRequest", "ServiceResponse", "dispatch", "handle",
           "match_route", "openapi_document", "route_for"]
