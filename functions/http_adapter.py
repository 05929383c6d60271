"""Between azure.functions' HttpRequest/HttpResponse and pipeline_core's plain ServiceRequest/Response.

Authentication, then the service call (in a worker thread: it does blocking
storage I/O and the Functions worker runs async handlers on its event loop),
then the one thing only this layer can do: start or signal the orchestration
through the Durable client (``functions/launcher.py``, started with
``pipeline_core.engine.launch.start_or_fail`` like every run).

Every answer is JSON in the house shape, failures included: storage calls run
within a request budget (``storage.account.request_budget``), so an outage
answers 503 ``StorageUnavailable`` with ``Retry-After`` in seconds, not after
minutes; a 202 is only sent once the run row is written and its orchestration
was accepted, so a run a client was told about is never lost; anything else
that fails answers a 500 without the exception's text (that goes to the log).
Links in answers are built from the public base URL (``rest.public_url``),
never from the request's ``Host`` header.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.durable_functions as df
import azure.functions as func

from pipeline_core.auth import AuthError, authenticate
from pipeline_core.engine.launch import RunNotStarted, start_or_fail
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.rest.errors import RETRY_AFTER_SECONDS, ServiceError, from_exception
from pipeline_core.rest.public_url import PublicUrlError, request_base_url
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.routing import Route, handle
from pipeline_core.storage.account import request_budget

from .launcher import DurableLauncher, off_loop

log = logging.getLogger("amlite.http")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, headers=headers or {},
                             mimetype="application/json")


def to_http(response: ServiceResponse) -> func.HttpResponse:
    if response.content_type == "application/json":
        return _json(response.status, response.body, response.headers)
    return func.HttpResponse(response.body_bytes(), status_code=response.status, headers=response.headers,
                             mimetype=response.content_type.split(";")[0])


def to_service(req: func.HttpRequest, principal_id: str | None, task_hub: str | None = None) -> ServiceRequest:
    return ServiceRequest(route_params=dict(req.route_params), query=dict(req.params), headers=dict(req.headers),
                          body=req.get_body() or b"", base_url=request_base_url(req.url),
                          method=req.method, principal_id=principal_id, launch=False, task_hub=task_hub)


_T = TypeVar("_T")


async def _budgeted(call: Callable[..., _T], *args: Any) -> _T:
    """Run blocking storage work in a worker thread, its retries bounded by the request budget."""
    def run() -> _T:
        with request_budget():
            return call(*args)

    return await asyncio.to_thread(run)


async def serve(route: Route, req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        principal = await asyncio.to_thread(authenticate, dict(req.headers), dict(req.params), route.role)
    except AuthError as exc:
        return _json(exc.status, exc.to_dict(), exc.headers())
    try:
        services = services_for(storage_from_environment())
        launcher = DurableLauncher(client)
        response = await _budgeted(handle, services, route, to_service(req, principal.id, launcher.task_hub))
        if response.launch_run_id:
            await _start(services, launcher, response.launch_run_id, response.launch_row)
    except Exception as exc:  # noqa: BLE001 - every failure still answers in the house shape
        return _failure(route, exc)
    if (route.alias_of or route.operation_id) == "cancelRun" and response.status < 300:  # AML's alias too
        await _signal_cancel(launcher, req.route_params.get("run_id") or req.route_params.get("runId") or "")
    if response.status == 503:
        log.warning("%s answered 503 %s", route.operation_id, (response.body or {}).get("error", {}).get("code"))
    return to_http(response)


def _failure(route: Route, exc: Exception) -> func.HttpResponse:
    """503 for an outage or a run that could not be started; 500 (text in the log only) for anything else."""
    error = from_exception(exc)
    if isinstance(exc, PublicUrlError):
        error = ServiceError(500, "InvalidConfiguration", str(exc))
    elif isinstance(exc, RunNotStarted):
        error = ServiceError(503, "RunNotStarted", f"{exc}. Retry in {RETRY_AFTER_SECONDS} seconds (with the same "
                             "Idempotency-Key the answer names this run)",
                             headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if error is None:
        log.exception("%s failed", route.operation_id)
        error = ServiceError(500, "InternalError", f"the server failed to handle {route.operation_id}; the details "
                                                   "are in the app's log")
    else:
        log.warning("%s answered %s %s: %s", route.operation_id, error.status, error.code, exc)
    return _json(error.status, error.to_body(), error.headers)


async def _start(services: Any, launcher: DurableLauncher, run_id: str,
                 created: dict[str, Any] | None = None) -> None:
    """Queue the run and start its orchestration (``start_or_fail``: a start that fails ends the run Failed
    and raises ``RunNotStarted``, answered 503). Only after this returns does the caller answer 202."""
    def start() -> None:
        with request_budget():
            start_or_fail(services, run_id, launcher, created=created)

    await off_loop(start)


async def _signal_cancel(launcher: DurableLauncher, run_id: str) -> None:
    if not run_id:
        return
    try:
        await off_loop(lambda: launcher.cancel(run_id))
    except Exception:  # noqa: BLE001 - already finished, or not ours: the run row flag still stops it
        log.info("no running orchestration to signal for run %s", run_id)
