"""Serve a Functions app's HTTP triggers with aiohttp, as the Functions host does.

Requests under the route prefix (``/api`` unless host.json sets
``extensions.http.routePrefix``) are matched against the functions' route
templates and methods, converted to ``azure.functions.HttpRequest`` and the
function's result converted back.  404 for an unknown route, 405 for a known
route with the wrong method, 500 with a JSON error body for an unhandled
exception (logged with its traceback).  Keys/auth levels are not enforced,
as with ``func start``.

Errors the web framework raises before or around a function are JSON too
(:class:`JsonErrorAppRunner`, :func:`json_errors`): a body over the limit
(413), a request line over 8 KB (414), a header line over 8 KB or too many
headers (431), a malformed request or control characters in the request line
or a header (400) - never aiohttp's plain text.

The URL a function sees (``req.url``) starts with the base URL the host
decides (``base_url_for``), not with the request's ``Host`` header, so an
app that builds links from it cannot be made to point elsewhere; see
``pipeline_core.rest.public_url``.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import azure.functions as func
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from .app_loader import FunctionInfo
from .invoker import FunctionInvoker, UnsupportedBindingError
from .routes import MethodNotAllowed, RouteNotFound, Router

logger = logging.getLogger("amlite.devhost.http")

#: Largest request body, as the Functions host allows (100 MB).
MAX_BODY_BYTES = 100 * 1024 * 1024
#: The base URL of the request being served, for what a function is handed along (the durable client binding).
REQUEST_BASE_URL: contextvars.ContextVar[str | None] = contextvars.ContextVar("amlite_request_base", default=None)

_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
          408: "RequestTimeout", 411: "LengthRequired", 413: "RequestTooLarge", 414: "UriTooLong",
          415: "UnsupportedMediaType", 431: "RequestHeadersTooLarge", 500: "InternalError",
          503: "ServiceUnavailable", 504: "GatewayTimeout"}


def error_response(status: int, code: str, message: str, details: list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """The house error shape: ``{"error": {"code", "message", "details"}}``, ``details`` always a list."""
    body = {"error": {"code": code, "message": message, "details": list(details or [])}}
    return web.json_response(body, status=status, headers=headers)


def _status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _framework_error(status: int, exc: BaseException | None) -> tuple[int, str, str]:
    """``(status, code, message)`` for a request the HTTP parser refused; messages carry no request bytes."""
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        if isinstance(line, bytes | bytearray) and bytes(line[:1]) == b"/" or str(line).startswith("/"):
            return 414, "UriTooLong", "The request line is longer than 8190 bytes; shorten the URL"
        return 431, "RequestHeadersTooLarge", "A request header is longer than 8190 bytes; shorten it"
    if isinstance(exc, BadHttpMessage) and "too many headers" in str(exc.message).lower():
        return 431, "RequestHeadersTooLarge", "The request has too many headers (at most 128)"
    if isinstance(exc, BadHttpMessage):
        first = str(exc.message).splitlines()[0].rstrip(":") if str(exc.message) else "malformed request"
        return 400, "MalformedRequest", f"The request is not valid HTTP/1.1 ({first}); control characters are " \
                                        "not allowed in the request line or headers (percent-encode them in URLs)"
    if status >= 500:
        return status, _CODES.get(status, "InternalError"), "The host failed to handle the request; see its log"
    return status, _CODES.get(status, "BadRequest"), _status_text(status)


class _JsonErrorRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering parser and server errors in the house JSON shape."""

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs, and checks nothing was sent yet
        status, code, text = _framework_error(status, exc)
        response = error_response(status, code, text)
        response.force_close()  # the stream may be out of step with the message boundaries
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer framework-level errors as JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state, JSON error answers
        return server


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_errors(max_body: int = MAX_BODY_BYTES) -> Middleware:
    """A middleware answering aiohttp's ``HTTPException`` (413, router 404/405, ...) in the house JSON shape.

    ``max_body`` is the app's ``client_max_size``: a body announced larger is refused before it is read.
    """
    too_large = f"The request body is larger than {max_body} bytes; send less (for data, upload it to a datastore)"

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body:
            response = error_response(413, "RequestTooLarge", too_large)
            response.force_close()
            return response
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if exc.content_type == "application/json":  # already JSON (the Durable API's own shape)
                return web.Response(status=exc.status, body=exc.body, headers=exc.headers)
            text = too_large if exc.status == 413 else (exc.text or _status_text(exc.status)).strip()
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(exc.status, _CODES.get(exc.status, "BadRequest"), text, headers=headers)

    return middleware


def listening_base_url(request: web.Request) -> str:
    """``http://<the address the connection reached>``: known to the host, unlike the ``Host`` header."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if not sockname:
        return "http://127.0.0.1"
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class HttpTriggerHost:
    """Route requests to HTTP-triggered functions; mount :meth:`handle` as a catch-all.

    ``base_url_for(request)`` is the ``scheme://host[:port]`` the host says it served the request on.
    """

    def __init__(self, functions: list[FunctionInfo], invoker: FunctionInvoker, route_prefix: str = "api",
                 base_url_for: Callable[[web.Request], str] | None = None) -> None:
        self.invoker = invoker
        self.base_url_for = base_url_for or listening_base_url
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
        base = self.base_url_for(request)
        REQUEST_BASE_URL.set(base)  # this request's task only
        req = func.HttpRequest(
            method=request.method,
            url=base + str(request.rel_url),
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

