"""The published-pipeline routes: publish, list, get, enable, disable."""

from __future__ import annotations

from pipeline_core.auth import ROLE_PUBLISH, ROLE_READ
from pipeline_core.rest.pipelines import handlers
from pipeline_core.rest.routing import API_PREFIX, Param, Route

ROUTES: tuple[Route, ...] = (
    Route(method="POST", path=f"{API_PREFIX}/pipelines", operation_id="publishPipeline", role=ROLE_PUBLISH,
          handler=handlers.publish_pipeline,
          summary="Publish a pipeline spec whose snapshots are already uploaded", tag="pipelines",
          success_status=201, request_schema="PublishPipelineRequest", response_schema="PublishedPipeline",
          response_headers=("Location",), errors=(400,)),
    Route(method="GET", path=f"{API_PREFIX}/pipelines", operation_id="listPipelines", role=ROLE_READ,
          handler=handlers.list_pipelines, summary="List published pipelines (newest first)",
          tag="pipelines", response_schema="PublishedPipelineList",
          query=(Param("active_only", "Only Active pipelines (default true)", {"type": "boolean"}),
                 Param("name", "Only pipelines published under this name")),
          errors=(400,)),
    Route(method="GET", path=f"{API_PREFIX}/pipelines/{{pipeline_id}}", operation_id="getPipeline",
          role=ROLE_READ, handler=handlers.get_pipeline, summary="Get a published pipeline",
          tag="pipelines", response_schema="PublishedPipeline", errors=(404,)),
    Route(method="POST", path=f"{API_PREFIX}/pipelines/{{pipeline_id}}/enable",
          operation_id="enablePipeline", role=ROLE_PUBLISH, handler=handlers.enable_pipeline,
          summary="Enable a published pipeline", tag="pipelines", response_schema="PublishedPipeline",
          errors=(404, 409)),
    Route(method="POST", path=f"{API_PREFIX}/pipelines/{{pipeline_id}}/disable",
          operation_id="disablePipeline", role=ROLE_PUBLISH, handler=handlers.disable_pipeline,
          summary="Disable a published pipeline (409 while an active schedule uses it)", tag="pipelines",
          response_schema="PublishedPipeline", errors=(404, 409)),
)
