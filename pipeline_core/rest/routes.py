"""The route table: every HTTP route of the amlite API, in one place.

The Functions HTTP layer registers exactly these (``Route.function_route`` is
the route template without the host's ``api/`` prefix), checks ``Route.role``
with :func:`pipeline_core.auth.authenticate`, and calls :func:`handle`. The
OpenAPI document (``openapi.py``) is generated from the same table, so the
served document and the served routes cannot drift apart.

Path templates use ``{param}``; AML v1 aliases keep AML's URL shape
(``/api/pipelines/v1.0/subscriptions/{subscription_id}/...``) and accept any
values in the subscription/resource group/workspace segments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from pipeline_core.auth import ROLE_PUBLISH, ROLE_READ, ROLE_SUBMIT
from pipeline_core.engine.services import Services
from pipeline_core.rest.endpoints import handlers as endpoint_ops
from pipeline_core.rest.errors import ServiceError, from_exception
from pipeline_core.rest.pipelines import handlers as pipeline_ops
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.runs import handlers as run_ops
from pipeline_core.rest.runs import spec_submit

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


@dataclass(frozen=True)
class Route:
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


def _openapi(services: Services, request: ServiceRequest) -> ServiceResponse:
    from pipeline_core.rest.openapi import openapi_document

    return ServiceResponse(200, openapi_document(request.base))


_ID_KEY = Param("Idempotency-Key", "Repeat a submit safely: the same key (for the same pipeline or endpoint) "
                                   "within 24 hours returns the first run instead of creating another.")
_VERSION = Param("version", "Endpoint version to run (default: the endpoint's default version)")
_METRICS = Param("metrics", "Include the metrics logged with Run.get_context() (default false)", {"type": "boolean"})
_SUBMIT_ERRORS = (400, 404, 409)
_ENDPOINTS = f"{API_PREFIX}/pipelineendpoints"
_ENDPOINT = f"{_ENDPOINTS}/{{endpoint}}"
_SUBMIT_HEADERS = ("Location", "Idempotent-Replayed")

ROUTES: tuple[Route, ...] = (
    # -- published pipelines ----------------------------------------------------------------
    Route("POST", f"{API_PREFIX}/pipelines", "publishPipeline", ROLE_PUBLISH, pipeline_ops.publish_pipeline,
          "Publish a pipeline spec whose snapshots are already uploaded", "pipelines", 201,
          "PublishPipelineRequest", "PublishedPipeline", response_headers=("Location",), errors=(400,)),
    Route("GET", f"{API_PREFIX}/pipelines", "listPipelines", ROLE_READ, pipeline_ops.list_pipelines,
          "List published pipelines (newest first)", "pipelines", response_schema="PublishedPipelineList",
          query=(Param("active_only", "Only Active pipelines (default true)", {"type": "boolean"}),
                 Param("name", "Only pipelines published under this name")), errors=(400,)),
    Route("GET", f"{API_PREFIX}/pipelines/{{pipeline_id}}", "getPipeline", ROLE_READ, pipeline_ops.get_pipeline,
          "Get a published pipeline", "pipelines", response_schema="PublishedPipeline", errors=(404,)),
    Route("POST", f"{API_PREFIX}/pipelines/{{pipeline_id}}/enable", "enablePipeline", ROLE_PUBLISH,
          pipeline_ops.enable_pipeline, "Enable a published pipeline", "pipelines",
          response_schema="PublishedPipeline", errors=(404, 409)),
    Route("POST", f"{API_PREFIX}/pipelines/{{pipeline_id}}/disable", "disablePipeline", ROLE_PUBLISH,
          pipeline_ops.disable_pipeline, "Disable a published pipeline (409 while an active schedule uses it)",
          "pipelines", response_schema="PublishedPipeline", errors=(404, 409)),
    # -- pipeline endpoints (by id or name wherever the path says {endpoint}) -------------------
    Route("POST", _ENDPOINTS, "createPipelineEndpoint", ROLE_PUBLISH, endpoint_ops.create_endpoint,
          "Create a pipeline endpoint whose version \"0\" (the default) is a published pipeline "
          "(PipelineEndpoint.publish); 409 NameTaken if the name is in use", "pipelineendpoints", 201,
          "CreatePipelineEndpointRequest", "PipelineEndpoint", response_headers=("Location",), errors=(400, 404, 409)),
    Route("GET", _ENDPOINTS, "listPipelineEndpoints", ROLE_READ, endpoint_ops.list_endpoints,
          "List pipeline endpoints by name (PipelineEndpoint.list)", "pipelineendpoints",
          response_schema="PipelineEndpointList",
          query=(Param("active_only", "Only Active endpoints (default true)", {"type": "boolean"}),), errors=(400,)),
    Route("GET", _ENDPOINT, "getPipelineEndpoint", ROLE_READ, endpoint_ops.get_endpoint,
          "Get a pipeline endpoint with its versions (PipelineEndpoint.get(ws, id=... | name=...))",
          "pipelineendpoints", response_schema="PipelineEndpoint",
          query=(Param("by", "Read {endpoint} as an id or as a name (default: an id, else a name)",
                       {"type": "string", "enum": list(endpoint_ops.LOOKUPS)}),), errors=(400, 404)),
    Route("POST", f"{_ENDPOINT}/versions", "addPipelineEndpointVersion", ROLE_PUBLISH, endpoint_ops.add_version,
          "Add a published pipeline as the endpoint's next version (add / add_default); a pipeline already on "
          "the endpoint keeps its version", "pipelineendpoints", request_schema="AddPipelineEndpointVersionRequest",
          response_schema="PipelineEndpoint", errors=(400, 404, 409)),
    Route("POST", f"{_ENDPOINT}/defaultversion", "setPipelineEndpointDefaultVersion", ROLE_PUBLISH,
          endpoint_ops.set_default_version, "Make a version the endpoint's default (set_default_version)",
          "pipelineendpoints", request_schema="SetPipelineEndpointDefaultVersionRequest",
          response_schema="PipelineEndpoint", errors=(400, 404, 409)),
    Route("POST", f"{_ENDPOINT}/enable", "enablePipelineEndpoint", ROLE_PUBLISH, endpoint_ops.enable_endpoint,
          "Enable a pipeline endpoint", "pipelineendpoints", response_schema="PipelineEndpoint", errors=(404, 409)),
    Route("POST", f"{_ENDPOINT}/disable", "disablePipelineEndpoint", ROLE_PUBLISH, endpoint_ops.disable_endpoint,
          "Disable a pipeline endpoint: submits answer 409 EndpointDisabled (409 while an active schedule uses it)",
          "pipelineendpoints", response_schema="PipelineEndpoint", errors=(404, 409)),
    # -- submit ---------------------------------------------------------------------------------
    Route("POST", f"{API_PREFIX}/pipelines/{{pipeline_id}}/runs", "submitPipelineRun", ROLE_SUBMIT,
          run_ops.submit_pipeline_run, "Submit a run of a published pipeline (PublishedPipeline.endpoint); "
          "409 PipelineDisabled for a disabled pipeline", "runs", 202, "SubmitPipelineRunRequest", "PipelineRun",
          headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS),
    Route("POST", f"{API_PREFIX}/pipelineendpoints/{{endpoint}}/runs", "submitPipelineEndpointRun", ROLE_SUBMIT,
          run_ops.submit_endpoint_run, "Submit a run to a pipeline endpoint (by id or name)", "runs", 202,
          "SubmitPipelineRunRequest", "PipelineRun", query=(_VERSION,), headers=(_ID_KEY,),
          response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS),
    Route("POST", f"{API_PREFIX}/runs", "submitPipelineSpec", ROLE_SUBMIT, spec_submit.submit_pipeline_spec,
          "Submit an unpublished pipeline (its spec; the SDK uploads the step snapshots first), as "
          "Experiment.submit(pipeline) does", "runs", 202, "SubmitPipelineSpecRequest", "PipelineRun",
          headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS, errors=(400, 409)),
    # -- runs -----------------------------------------------------------------------------------
    Route("GET", f"{API_PREFIX}/runs/{{run_id}}", "getRun", ROLE_READ, run_ops.get_run, "Get a run", "runs",
          response_schema="PipelineRun",
          query=(Param("steps", "Include the run's steps (default false)", {"type": "boolean"}), _METRICS)),
    Route("GET", f"{API_PREFIX}/runs/{{run_id}}/steps", "listRunSteps", ROLE_READ, run_ops.list_run_steps,
          "List a run's steps", "runs", response_schema="StepRunList", errors=(404,), query=(_METRICS,)),
    Route("GET", f"{API_PREFIX}/runs/{{run_id}}/steps/{{step}}/logs", "getStepLog", ROLE_READ,
          run_ops.get_step_log, "A page of a step's log text: at most 1 MiB from ?offset=; continue from "
          "X-Log-Offset while it is below X-Log-Size", "runs", response_content_type="text/plain",
          query=(Param("file", "std_log.txt (default), stdout.txt, stderr.txt or 70_driver_log.txt"),
                 Param("offset", "Skip this many bytes (continue from X-Log-Offset)", {"type": "integer"})),
          response_headers=("X-Log-Offset", "X-Log-Size")),
    Route("POST", f"{API_PREFIX}/runs/{{run_id}}/cancel", "cancelRun", ROLE_SUBMIT, run_ops.cancel_run,
          "Cancel a run (409 if it already ended Finished or Failed)", "runs", 202,
          response_schema="PipelineRun", response_headers=("Location",), errors=(404, 409)),
    Route("GET", f"{API_PREFIX}/experiments/{{experiment}}/runs", "listExperimentRuns", ROLE_READ,
          run_ops.list_experiment_runs, "List an experiment's runs, newest first", "runs",
          response_schema="PipelineRunList",
          query=(Param("top", "At most this many runs (1-1000, default 50)", {"type": "integer"}),)),
    Route("GET", f"{API_PREFIX}/openapi.json", "getOpenApiDocument", ROLE_READ, _openapi,
          "This OpenAPI document", "meta", response_schema="OpenApiDocument", errors=()),
    # -- AML v1 compatible aliases ----------------------------------------------------------------
    Route("POST", f"{AML_PREFIX}/PipelineRuns/PipelineSubmit/{{pipeline_id}}", "amlSubmitPipelineRun",
          ROLE_SUBMIT, run_ops.submit_pipeline_run, "AML v1: submit a published pipeline", "aml-v1", 202,
          "SubmitPipelineRunRequest", "PipelineRun", headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS,
          errors=_SUBMIT_ERRORS, alias_of="submitPipelineRun"),
    Route("POST", f"{AML_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Id/{{endpoint_id}}",
          "amlSubmitPipelineEndpointRun", ROLE_SUBMIT, run_ops.submit_endpoint_run,
          "AML v1: submit to a pipeline endpoint's default version", "aml-v1", 202, "SubmitPipelineRunRequest",
          "PipelineRun", query=(Param("pipelineVersion", "Endpoint version to run"),), headers=(_ID_KEY,),
          response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS, alias_of="submitPipelineEndpointRun"),
    Route("POST", f"{AML_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Id/{{endpoint_id}}/{{version}}",
          "amlSubmitPipelineEndpointRunVersion", ROLE_SUBMIT, run_ops.submit_endpoint_run,
          "AML v1: submit to one version of a pipeline endpoint", "aml-v1", 202, "SubmitPipelineRunRequest",
          "PipelineRun", headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS,
          alias_of="submitPipelineEndpointRun"),
    Route("GET", f"{AML_PREFIX}/PipelineRuns/{{run_id}}", "amlGetPipelineRun", ROLE_READ, run_ops.get_run,
          "AML v1: get a pipeline run", "aml-v1", response_schema="PipelineRun", errors=(404,),
          alias_of="getRun"),
    Route("POST", f"{AML_PREFIX}/PipelineRuns/{{run_id}}/Cancel", "amlCancelPipelineRun", ROLE_SUBMIT,
          run_ops.cancel_run, "AML v1: cancel a pipeline run", "aml-v1", 202, response_schema="PipelineRun",
          response_headers=("Location",), errors=(404, 409), alias_of="cancelRun"),
)

from pipeline_core.rest.schedules.routes import SCHEDULE_ROUTES  # noqa: E402 - it needs Route (above)

ROUTES += SCHEDULE_ROUTES
from pipeline_core.rest.views.routes import VIEW_ROUTES  # noqa: E402 - it needs Route (above)

ROUTES += VIEW_ROUTES

_BY_OPERATION = {route.operation_id: route for route in ROUTES}
# Literal segments win over parameters (as ASP.NET Core routing decides), so
# ".../PipelineRuns/PipelineSubmit/x" is a submit, not the run "PipelineSubmit".
_BY_PRECEDENCE = sorted(ROUTES, key=lambda r: (-r.literal_count, r.path))


def route_for(operation_id: str) -> Route:
    return _BY_OPERATION[operation_id]


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in _BY_PRECEDENCE:
        values = route.match(method, path)
        if values is not None:
            return route, values
    return None


def methods_for(path: str) -> list[str]:
    """Methods some route accepts at ``path`` (for a 405 ``Allow`` header)."""
    return sorted({r.method for r in ROUTES for m in ("GET", "POST") if r.match(m, path) is not None})


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


def dispatch(services: Services, method: str, path: str, request: ServiceRequest) -> ServiceResponse:
    """Match ``path`` against the table and handle it (used by tests and the local dev host)."""
    found = match_route(method, path)
    if found is None:
        allowed = methods_for(path)
        if allowed:
            return error_response(ServiceError(405, "MethodNotAllowed",
                                               f"{method} is not allowed on {path}; use {', '.join(allowed)}"))
        return error_response(ServiceError(404, "RouteNotFound", f"no API route matches {path}; "
                                                                 f"see {API_PREFIX}/openapi.json"))
    route, values = found
    routed = replace(request, route_params=values, method=method.upper())
    return handle(services, route, routed)
