"""The pipeline-endpoint routes (by id or name wherever the path says ``{endpoint}``)."""

from __future__ import annotations

from pipeline_core.auth import ROLE_PUBLISH, ROLE_READ
from pipeline_core.rest.endpoints import handlers
from pipeline_core.rest.routing import API_PREFIX, Param, Route

_ENDPOINTS = f"{API_PREFIX}/pipelineendpoints"
_ENDPOINT = f"{_ENDPOINTS}/{{endpoint}}"

ROUTES: tuple[Route, ...] = (
    Route(method="POST", path=_ENDPOINTS, operation_id="createPipelineEndpoint", role=ROLE_PUBLISH,
          handler=handlers.create_endpoint,
          summary="Create a pipeline endpoint whose version \"0\" (the default) is a published pipeline "
                  "(PipelineEndpoint.publish); 409 NameTaken if the name is in use",
          tag="pipelineendpoints", success_status=201, request_schema="CreatePipelineEndpointRequest",
          response_schema="PipelineEndpoint", response_headers=("Location",), errors=(400, 404, 409)),
    Route(method="GET", path=_ENDPOINTS, operation_id="listPipelineEndpoints", role=ROLE_READ,
          handler=handlers.list_endpoints,
          summary="List pipeline endpoints by name (PipelineEndpoint.list)", tag="pipelineendpoints",
          response_schema="PipelineEndpointList",
          query=(Param("active_only", "Only Active endpoints (default true)", {"type": "boolean"}),),
          errors=(400,)),
    Route(method="GET", path=_ENDPOINT, operation_id="getPipelineEndpoint", role=ROLE_READ,
          handler=handlers.get_endpoint,
          summary="Get a pipeline endpoint with its versions (PipelineEndpoint.get(ws, id=... | name=...))",
          tag="pipelineendpoints", response_schema="PipelineEndpoint",
          query=(Param("by", "Read {endpoint} as an id or as a name (default: an id, else a name)",
                       {"type": "string", "enum": list(handlers.LOOKUPS)}),),
          errors=(400, 404)),
    Route(method="POST", path=f"{_ENDPOINT}/versions", operation_id="addPipelineEndpointVersion",
          role=ROLE_PUBLISH, handler=handlers.add_version,
          summary="Add a published pipeline as the endpoint's next version (add / add_default); a pipeline already on "
                  "the endpoint keeps its version",
          tag="pipelineendpoints", request_schema="AddPipelineEndpointVersionRequest",
          response_schema="PipelineEndpoint", errors=(400, 404, 409)),
    Route(method="POST", path=f"{_ENDPOINT}/defaultversion",
          operation_id="setPipelineEndpointDefaultVersion", role=ROLE_PUBLISH,
          handler=handlers.set_default_version,
          summary="Make a version the endpoint's default (set_default_version)", tag="pipelineendpoints",
          request_schema="SetPipelineEndpointDefaultVersionRequest", response_schema="PipelineEndpoint",
          errors=(400, 404, 409)),
    Route(method="POST", path=f"{_ENDPOINT}/name", operation_id="renamePipelineEndpoint",
          role=ROLE_PUBLISH, handler=handlers.rename_endpoint,
          summary="Rename a pipeline endpoint (set_name): same id, versions and status; 409 NameTaken if in use",
          tag="pipelineendpoints", request_schema="RenamePipelineEndpointRequest",
          response_schema="PipelineEndpoint", errors=(400, 404, 409)),
    Route(method="POST", path=f"{_ENDPOINT}/enable", operation_id="enablePipelineEndpoint",
          role=ROLE_PUBLISH, handler=handlers.enable_endpoint, summary="Enable a pipeline endpoint",
          tag="pipelineendpoints", response_schema="PipelineEndpoint", errors=(404, 409)),
    Route(method="POST", path=f"{_ENDPOINT}/disable", operation_id="disablePipelineEndpoint",
          role=ROLE_PUBLISH, handler=handlers.disable_endpoint,
          summary="Disable a pipeline endpoint: submits answer 409 EndpointDisabled (409 while an active schedule uses it)",
          tag="pipelineendpoints", response_schema="PipelineEndpoint", errors=(404, 409)),
)
