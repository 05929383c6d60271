"""The Durable extension's HTTP API subset, served from the in-memory engine.

``DurableOrchestrationClient`` talks to the extension over HTTP: it reads
``rpcBaseUrl`` and the management URL templates from the client binding JSON
the host injects into ``durable_client_input`` parameters, then calls

- ``POST {rpc}orchestrators/{name}[/{instanceId}]``  (start_new; body = JSON input)
- ``GET {rpc}instances/{id}?showHistory=..&showInput=..``  (get_status)
- ``GET {rpc}instances/?createdTimeFrom=..&runtimeStatus=..``  (get_status_all / _by)
- ``POST {rpc}instances/{id}/raiseEvent/{event}``  (raise_event)
- ``POST {rpc}instances/{id}/terminate?reason=..``  (terminate)
- ``DELETE {rpc}instances/{id}`` / ``DELETE {rpc}instances/?..``  (purge)

The same handlers are mounted under ``/runtime/webhooks/durabletask`` on the
main host, so the ``statusQueryGetUri``/``sendEventPostUri``/... links that
``create_check_status_response`` hands out work for any HTTP client.
Status codes follow the extension (202 running, 200 finished, 404 unknown,
410 gone, 400/409 bad start).

Who may call them: anyone who can list, terminate or start orchestrations
controls every run, so

- the webhook routes require the host's system key, as the Functions host
  requires its ``durabletask_extension`` system key on ``runtime/webhooks``: the
  ``code`` query parameter or the ``x-functions-key`` header, else 401. The
  links the binding hands out carry ``code=``, as they do on Azure, so
  existing clients keep working;
- the RPC site listens on loopback only, and its routes sit under a random
  path segment (``/{token}/durabletask/``) that only the client binding carries.
  The SDK's client sends no key on RPC calls, so the unguessable base URL is
  the credential; it is never logged or handed to a step.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..http_host import MAX_BODY_BYTES, error_response, json_errors
from .engine import DurableEngine
from .history import parse_timestamp
from .models import DurableError, RuntimeStatus

RPC_PREFIX = "/durabletask"
WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
INSTANCE_PLACEHOLDER = "INSTANCEID"
KEY_HEADER = "x-functions-key"


def client_binding(*, rpc_base_url: str, public_base_url: str, task_hub: str,
                   connection: str = "Storage", system_key: str | None = None) -> dict[str, Any]:
    """The durable client binding payload, shaped as the extension injects it.

    ``DurableOrchestrationBindings`` reads ``taskHubName``, ``creationUrls``,
    ``managementUrls`` (with ``id`` = the placeholder the client replaces by
    an instance id) and ``rpcBaseUrl`` (must end with ``/``); extra keys go to
    ``client_data``. With ``system_key`` every management URL carries
    ``code=<key>``, as on Azure.
    """
    base = public_base_url.rstrip("/") + WEBHOOK_PREFIX
    query = f"taskHub={quote(task_hub)}&connection={quote(connection)}"
    if system_key:
        query += f"&code={quote(system_key, safe='')}"
    instance = f"{base}/instances/{INSTANCE_PLACEHOLDER}"
    return {
        "taskHubName": task_hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
            "createAndWaitOnNewInstancePostUri":
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                f"&pollingInterval={{intervalInSeconds}}&{query}",
        },
        "managementUrls": {
            "id": INSTANCE_PLACEHOLDER,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": base,
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": rpc_base_url if rpc_base_url.endswith("/") else rpc_base_url + "/",
        "httpBaseUrl": base,
    }


def client_binding_json(**kwargs: Any) -> str:
    """:func:`client_binding` as the JSON string a ``durable_client_input`` parameter receives."""
    return json.dumps(client_binding(**kwargs))


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"Message": f"{name}: {exc}"}),
                                 content_type="application/json") from exc


def body_to_json(raw: bytes) -> str | None:
    """Normalise a request body to the JSON text stored as input / event data.

    The SDK client serialises its payload and aiohttp serialises it again,
    so its bodies are JSON strings holding JSON; a plain JSON body (curl) is
    taken as the value itself.
    """
    if not raw.strip():
        return None
    value = json.loads(raw)
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(value)


def _error(exc: DurableError) -> web.Response:
    message = str(exc)
    return web.json_response({"Message": message, "ExceptionMessage": message,
                              "ExceptionType": type(exc).__name__}, status=exc.http_status)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def system_key_required(system_key: str) -> Middleware:
    """Middleware: 401 unless the request carries ``system_key`` (``code`` query or ``x-functions-key`` header).

    Compared as SHA-256 digests in constant time, so neither a mismatch's position nor the key's length leaks.
    """
    wanted = _digest(system_key)
    fix = (f"send the host's system key in the '{KEY_HEADER}' header or the 'code' query parameter: the value of "
           "AMLITE_SYSTEM_KEY, or the key `amlite dev` printed when it started")

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        given = request.headers.get(KEY_HEADER) or request.query.get("code")
        if not given:
            return error_response(401, "SystemKeyRequired", f"The Durable management API needs a key; {fix}")
        if not hmac.compare_digest(_digest(given), wanted):
            return error_response(401, "InvalidSystemKey", f"The key is not this host's system key; {fix}")
        return await handler(request)

    return middleware


class ManagementApi:
    """aiohttp handlers over a :class:`DurableEngine`.

    ``public_base_url`` gives the base of the links it answers with; ``system_key`` goes into them as ``code=``.
    """

    def __init__(self, engine: DurableEngine, public_base_url: Callable[[], str], task_hub: str,
                 system_key: str | None = None) -> None:
        self.engine = engine
        self.public_base_url = public_base_url
        self.task_hub = task_hub
        self.system_key = system_key

    def routes(self, prefix: str) -> list[web.RouteDef]:
        p = prefix.rstrip("/")
        return [
            web.post(p + "/orchestrators/{name}", self.start),
            web.post(p + "/orchestrators/{name}/{instance_id}", self.start),
            web.get(p + "/instances", self.list),
            web.get(p + "/instances/", self.list),
            web.delete(p + "/instances", self.purge_by),
            web.delete(p + "/instances/", self.purge_by),
            web.get(p + "/instances/{instance_id}", self.status),
            web.delete(p + "/instances/{instance_id}", self.purge),
            web.post(p + "/instances/{instance_id}/raiseEvent/{event}", self.raise_event),
            web.post(p + "/instances/{instance_id}/terminate", self.terminate),
            web.post(p + "/instances/{instance_id}/{operation:suspend|resume|rewind|restart}",
                     self.not_implemented),
            web.route("*", p + "/entities/{tail:.*}", self.not_implemented),
        ]

    def management_payload(self, instance_id: str) -> dict[str, str]:
        urls = client_binding(rpc_base_url="/", public_base_url=self.public_base_url(),
                              task_hub=self.task_hub, system_key=self.system_key)["managementUrls"]
        return {k: v.replace(INSTANCE_PLACEHOLDER, quote(instance_id, safe="")) if k != "id" else instance_id
                for k, v in urls.items()}

    async def start(self, request: web.Request) -> web.Response:
        try:
            input_json = body_to_json(await request.read())
        except ValueError as exc:
            return web.json_response({"Message": f"The request body is not valid JSON: {exc}"}, status=400)
        try:
            # Off the loop: with a store, starting writes the instance to storage first.
            instance_id = await asyncio.to_thread(self.engine.start_new, request.match_info["name"],
                                                  request.match_info.get("instance_id"), serialized_input=input_json)
        except DurableError as exc:
            return _error(exc)
        payload = self.management_payload(instance_id)
        return web.json_response(payload, status=202, headers={"Location": payload["statusQueryGetUri"]})

    async def status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        status = await asyncio.to_thread(self.engine.get_status, instance_id, _flag(request, "showHistory"))
        if status is None:
            return web.Response(status=404)
        body = status.to_json(show_input=_flag(request, "showInput", True),
                              show_history_output=_flag(request, "showHistoryOutput"))
        state = status.runtime_status
        if state in (RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW):
            location = self.public_base_url().rstrip("/") + request.rel_url.path_qs  # not the Host header
            return web.json_response(body, status=202, headers={"Location": location})
        if state == RuntimeStatus.FAILED and _flag(request, "returnInternalServerErrorOnFailure"):
            return web.json_response(body, status=500)
        return web.json_response(body, status=200)

    async def list(self, request: web.Request) -> web.Response:
        statuses = [s for s in (request.query.get("runtimeStatus") or "").split(",") if s]
        found = self.engine.list_instances(created_from=_time(request, "createdTimeFrom"),
                                           created_to=_time(request, "createdTimeTo"),
                                           statuses=statuses or None,
                                           prefix=request.query.get("instanceIdPrefix"))
        show_input = _flag(request, "showInput", True)
        found.sort(key=lambda s: s.created_time)
        return web.json_response([s.to_json(show_input=show_input) for s in found])

    async def purge(self, request: web.Request) -> web.Response:
        if await asyncio.to_thread(self.engine.purge, request.match_info["instance_id"]):
            return web.json_response({"instancesDeleted": 1})
        return web.json_response({"instancesDeleted": 0}, status=404)

    async def purge_by(self, request: web.Request) -> web.Response:
        statuses = [s for s in (request.query.get("runtimeStatus") or "").split(",") if s]
        deleted = await asyncio.to_thread(lambda: self.engine.purge_by(
            created_from=_time(request, "createdTimeFrom"), created_to=_time(request, "createdTimeTo"),
            statuses=statuses or None))
        return web.json_response({"instancesDeleted": deleted}, status=200 if deleted else 404)

    async def raise_event(self, request: web.Request) -> web.Response:
        try:
            data = body_to_json(await request.read())
        except ValueError:
            return web.json_response({"Message": "Only application/json request content is supported"},
                                     status=400)
        try:
            await asyncio.to_thread(self.engine.raise_event, request.match_info["instance_id"],
                                    request.match_info["event"], serialized_data=data if data is not None else "null")
        except DurableError as exc:
            return _error(exc)
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        try:
            await asyncio.to_thread(self.engine.terminate, request.match_info["instance_id"],
                                    request.query.get("reason", ""))
        except DurableError as exc:
            return _error(exc)
        return web.Response(status=202)

    async def not_implemented(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"Message": f"{request.path} is not supported by the amlite dev host "
                        "(suspend/resume/rewind/restart and durable entities need the Functions host)"},
            status=501)


def rpc_prefix(token: str) -> str:
    """The RPC routes' path: ``/{token}/durabletask``."""
    return f"/{quote(token, safe='')}{RPC_PREFIX}"


def create_rpc_app(api: ManagementApi, token: str) -> web.Application:
    """The loopback app the client binding's ``rpcBaseUrl`` (``/{token}/durabletask/``) points at."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors()])  # large inputs
    app.add_routes(api.routes(rpc_prefix(token)))
    return app


def create_webhook_app(api: ManagementApi, system_key: str) -> web.Application:
    """The ``/runtime/webhooks/durabletask`` routes, guarded by the system key (mount with ``add_subapp``)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[system_key_required(system_key)])
    app.add_routes(api.routes(""))
    return app


async def reset_sdk_http_session() -> None:
    """Close the SDK's process-wide aiohttp session (bound to the current loop).

    ``azure.durable_functions`` keeps one ``ClientSession`` per process; if
    a dev host stops and another starts on a new loop, the old session would
    be reused on a dead loop.  Call this on the host loop before it stops.
    """
    from azure.durable_functions.models.utils import http_utils

    session = getattr(http_utils, "_client_session", None)
    http_utils._client_session = None
    if session is not None and not session.closed:
        try:
            await session.close()
        except Exception:  # closing is best effort; the loop is going away
            pass
