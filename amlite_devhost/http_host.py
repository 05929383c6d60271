"""Serve a Functions app's HTTP triggers with aiohttp, as the Functions host does.

Requests under the route prefix (``/api`` unless host.json sets
``extensions.http.routePrefix``) are matched against the functions' route
templates and methods, converted to ``azure.functions.HttpRequest`` and the
function's result converted back.  404 for an unknown route, 405 for a known
route with the wrong method, 500 with a JSON error body for an unhandled
exception (logged with its traceback).  Keys/auth levels are not enforced,
as with ``func start``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from .app_loader import FunctionInfo
from .invoker import FunctionInvoker, UnsupportedBindingError
from .routes import MethodNotAllowed, RouteNotFound, Router

logger = logging.getLogger("amlite.devhost.http")


def error_response(status: int, code: str, message: str, details: list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """The house error shape: ``{"error": {"code", "message", "details"}}``, ``details`` always a list."""
    body = {"error": {"code": code, "message": message, "details": list(details or [])}}
    return web.json_response(body, status=status, headers=headers)


class HttpTriggerHost:
    """Route requests to HTTP-triggered functions; mount :meth:`handle` as a catch-all."""

    def __init__(self, functions: list[FunctionInfo], invoker: FunctionInvoker, route_prefix: str = "api") -> None:
        self.invoker = invoker
        self.prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.router = Router()
        self.functions = [f for f in functions if f.http is not None]
        for info in self.functions:
            assert info.http is not None
            self.router.add(info.http.route, info.http.methods, info)

    def url_for(self, info: FunctionInfo, base_url: str) -> str:
        assert info.http is not None
        return f"{base_url}{self.prefix}/{info.http.route.strip('/')}"

    def _relative(self, raw_path: str) -> str | None:
        if not self.prefix:
            return raw_path
        lowered = raw_path.lower()
        prefix = self.prefix.lower()
        if lowered == prefix or lowered == prefix + "/":
            return "/"
        if lowered.startswith(prefix + "/"):
            return raw_path[len(self.prefix):]
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rel = self._relative(request.rel_url.raw_path)
        if rel is None:
            return error_response(404, "NotFound", f"No function serves {request.path}")
        try:
            info, route_params = self.router.resolve(rel, request.method)
        except MethodNotAllowed as exc:
            return error_response(405, "MethodNotAllowed",
                                  f"{request.method} is not allowed on {request.path}",
                                  [{"allowed": exc.allowed}], headers={"Allow": ", ".join(exc.allowed)})
        except RouteNotFound:
            return error_response(404, "NotFound", f"No function serves {request.path}")
        body = await request.read()
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers={k: ", ".join(request.headers.getall(k)) for k in request.headers.keys()},
            params={k: ",".join(request.query.getall(k)) for k in request.query.keys()},
            route_params=route_params,
            body=body,
        )
        try:
            result, outs = await self.invoker.invoke(info, req)
            assert info.http is not None
            if result is None and info.http.output_param in outs:
                result = outs[info.http.output_param].get()
            return to_web_response(result)
        except UnsupportedBindingError as exc:
            logger.error("%s", exc)
            return error_response(500, "UnsupportedBinding", str(exc), [{"function": info.name}])
        except Exception as exc:
            logger.exception("Executed 'Functions.%s' (Failed)", info.name)
            return error_response(
                500, "FunctionInvocationError",
                f"Exception while executing function: Functions.{info.name}: {type(exc).__name__}: {exc}",
                [{"function": info.name, "type": type(exc).__name__}])


def to_web_response(result: Any) -> web.Response:
    """Convert what an HTTP function returned, like the worker's HttpResponseConverter."""
    if isinstance(result, func.HttpResponse):
        headers = [(k, v) for k, v in result.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", f"{result.mimetype}; charset={result.charset}"))
        return web.Response(status=result.status_code, body=result.get_body(), headers=CIMultiDict(headers))
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="text/plain")
    if isinstance(result, bytes | bytearray):
        return web.Response(status=200, body=bytes(result), content_type="application/octet-stream")
    if result is None:
        return web.Response(status=204)
    raise TypeError(f"HTTP functions must return HttpResponse or str, got {type(result).__name__}: "
                    f"{json.dumps(result, default=str)[:200]}")

