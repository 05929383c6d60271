"""The REST layer's entry points in one import (the route table, handling, request/response values)."""

from pipeline_core.rest.errors import ServiceError
from pipeline_core.rest.openapi import openapi_document
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.routes import ROUTES, Route, dispatch, handle, match_route, route_for

__all__ = ["ROUTES", "Route", "ServiceError", "ServiceRequest", "ServiceResponse", "dispatch", "handle",
           "match_route", "openapi_document", "route_for"]
