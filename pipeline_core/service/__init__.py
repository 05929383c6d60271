"""The REST service layer: what the HTTP API does, with no HTTP framework in it.

``functions/http_api.py`` registers every route of :data:`ROUTES`, authenticates
with the route's ``role``, builds a :class:`ServiceRequest` and calls
:func:`handle`; the answer is a :class:`ServiceResponse` (status, JSON body or
text, headers). Refusals are :class:`ServiceError` (4xx with
``{"error": {"code", "message", "details"}}``).
"""

from pipeline_core.service.errors import ServiceError
from pipeline_core.service.openapi import openapi_document
from pipeline_core.service.request import ServiceRequest, ServiceResponse
from pipeline_core.service.routes import ROUTES, Route, dispatch, handle, match_route, route_for

__all__ = ["ROUTES", "Route", "ServiceError", "ServiceRequest", "ServiceResponse", "dispatch", "handle",
           "match_route", "openapi_document", "route_for"]
