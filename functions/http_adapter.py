"""Between azure.functions' HttpRequest/HttpResponse and pipeline_core's plain ServiceRequest/Response.

Authentication, then the service call (in a worker thread: it does blocking
storage I/O and the Functions worker runs async handlers on its event loop),
then the one thing only this layer can do: start or signal the orchestration
through the Durable client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from pipeline_core.auth import AuthError, authenticate
from pipeline_core.engine.launch import mark_queued
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.service.request import ServiceRequest, ServiceResponse
from pipeline_core.service.routes import Route, handle
from pipeline_core.storage.run_store import FAILED, RUN_ROW, InvalidTransition, utcnow

log = logging.getLogger("amlite.http")
ORCHESTRATOR = "pipeline_run"
CANCEL_EVENT = "cancel"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, headers=headers or {},
                             mimetype="application/json")


def to_http(response: ServiceResponse) -> func.HttpResponse:
    if response.content_type == "application/json":
        return _json(response.status, response.body, response.headers)
    return func.HttpResponse(response.body or "", status_code=response.status, headers=response.headers,
                             mimetype=response.content_type.split(";")[0])


def to_service(req: func.HttpRequest, principal_id: str | None) -> ServiceRequest:
    parts = urlsplit(req.url)
    return ServiceRequest(route_params=dict(req.route_params), query=dict(req.params), headers=dict(req.headers),
                          body=req.get_body() or b"", base_url=f"{parts.scheme}://{parts.netloc}",
                          method=req.method, principal_id=principal_id, launch=False)


async def serve(route: Route, req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        principal = await asyncio.to_thread(authenticate, dict(req.headers), dict(req.params), route.role)
    except AuthError as exc:
        return _json(exc.status, exc.to_dict(), exc.headers())
    services = services_for(storage_from_environment())
    response = await asyncio.to_thread(handle, services, route, to_service(req, principal.id))
    if response.launch_run_id:
        await _start(services, client, response.launch_run_id, response.launch_etag)
    if (route.alias_of or route.operation_id) == "cancelRun" and response.status < 300:  # AML's alias too
        await _signal_cancel(client, req.route_params.get("run_id") or req.route_params.get("runId") or "")
    return to_http(response)


async def _start(services: Any, client: df.DurableOrchestrationClient, run_id: str,
                 etag: str | None = None) -> None:
    """Queue the run and start its orchestration under the run id; a start that fails ends the run Failed."""
    await asyncio.to_thread(mark_queued, services, run_id, etag)
    try:
        await client.start_new(ORCHESTRATOR, run_id, run_id)
    except Exception as exc:
        log.exception("could not start the orchestration of run %s", run_id)
        try:
            await asyncio.to_thread(services.runs.transition, run_id, RUN_ROW, FAILED, {
                "end_time": utcnow(), "error": {"message": f"the orchestration could not be started: {exc}"}})
        except InvalidTransition:
            pass
        raise


async def _signal_cancel(client: df.DurableOrchestrationClient, run_id: str) -> None:
    if not run_id:
        return
    try:
        await client.raise_event(run_id, CANCEL_EVENT, {"reason": "canceled over HTTP"})
    except Exception:  # noqa: BLE001 - already finished, or not ours: the run row flag still stops it
        log.info("no running orchestration to signal for run %s", run_id)
