"""The OpenAPI 3 document of a route table and its schemas (``rest.routes`` serves it at ``/api/openapi.json``).

It takes the table as an argument instead of importing it, so the table can
serve its own document without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline_core.rest.request import normalize_base_url
from pipeline_core.rest.routing import Route

OPENAPI_VERSION = "3.0.3"
_ERROR_TEXT = {400: "Bad input: the message names the field and the fix", 401: "Not authenticated",
               403: "Authenticated but lacking the role", 404: "Not found", 405: "Method not allowed",
               409: "The target's state forbids this (disabled, already ended, key reused)",
               413: "Request body too large",
               503: "Storage is not answering (StorageUnavailable) or a run could not be started (RunNotStarted): "
                    "retry after Retry-After seconds"}


def _operation(route: Route) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.path_params]
    params += [{"name": q.name, "in": "query", "required": q.required, "description": q.description,
                "schema": q.schema} for q in route.query]
    params += [{"name": h.name, "in": "header", "required": h.required, "description": h.description,
                "schema": h.schema} for h in route.headers]
    if route.response_content_type.startswith("text/"):
        content: dict[str, Any] = {route.response_content_type: {"schema": {"type": "string"}}}
    else:
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.response_schema}"}}}
    success: dict[str, Any] = {"description": route.summary, "content": content}
    if route.response_headers:
        success["headers"] = {name: {"schema": {"type": "string"}} for name in route.response_headers}
    responses: dict[str, Any] = {str(route.success_status): success}
    statuses = {*route.errors, 401, 403, 503} | ({400, 413} if route.request_schema else set())
    for status in sorted(statuses):
        responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"), "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses["503"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                   "description": "Seconds to wait before retrying"}}
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
                                 "parameters": params, "responses": responses,
                                 "x-amlite-required-role": route.role}
    if route.alias_of:
        operation["x-amlite-alias-of"] = route.alias_of
    if route.request_schema:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{route.request_schema}"}}}}
    return operation


def build_document(routes: Iterable[Route], schemas: dict[str, dict[str, Any]], base_url: str) -> dict[str, Any]:
    """Every route of ``routes``, nothing else; paths are absolute (they include ``/api``).

    ``base_url`` is the public base URL (``rest.public_url``), never one taken from the request's Host header.
    """
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "amlite pipelines API", "version": "1.0",
                 "description": "Azure ML SDK v1 style published pipelines on Azure Functions. Native routes "
                                "under /api, and AML v1 compatible aliases under /api/pipelines/v1.0/..."},
        "servers": [{"url": normalize_base_url(base_url)}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "Entra ID token carrying an app role (AMLITE_AUTH=entra)"},
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                "description": "A function key (AMLITE_AUTH=key); ?code= works too"},
            },
        },
        "security": [{"bearer": []}, {"functionKey": []}],
    }
