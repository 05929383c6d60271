"""What ``PublishedPipeline`` and ``PipelineEndpoint`` management do when the workspace has an ``endpoint``.

Why over REST and not straight to the storage account: the usual AML v1 CI
job holds the Functions app URL and an Entra token, not the storage account's
keys, and the app is where the rules live (a pipeline with active schedules
cannot be disabled, endpoint names are unique). These calls need nothing from
the workspace but its endpoint and credentials.

The objects built here are the same classes a local workspace returns. Their
submit URLs are made from the workspace's own endpoint rather than taken from
the answer: the app names itself by the host it was reached under, which behind
a proxy or Front Door is not the URL this workspace uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core.client.api import Entity, client_for
from pipeline_core.client.remote import published_from_entity
from pipeline_core.errors import AmliteError, NotFoundError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.pipeline.core.pipeline_endpoint import PipelineEndpoint
    from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline


# -- published pipelines ------------------------------------------------------------------------
def get_published(workspace: Workspace, pipeline_id: str) -> PublishedPipeline:
    """``PublishedPipeline.get``: ``GET /api/pipelines/{id}``."""
    return published_from_entity(workspace, client_for(workspace).get_pipeline(pipeline_id))


def list_published(workspace: Workspace, active_only: bool = True) -> list[PublishedPipeline]:
    """``PublishedPipeline.list``: ``GET /api/pipelines?active_only=``, newest first."""
    return [published_from_entity(workspace, entity)
            for entity in client_for(workspace).list_pipelines(active_only)]


def set_published_status(workspace: Workspace, pipeline_id: str, enable: bool) -> str:
    """``PublishedPipeline.enable/disable``; the status the server now holds."""
    return str(client_for(workspace).set_pipeline_status(pipeline_id, enable)["Status"])


# -- pipeline endpoints -------------------------------------------------------------------------
def endpoint_from_entity(workspace: Workspace, entity: Entity) -> PipelineEndpoint:
    from pipeline_core.pipeline.core.pipeline_endpoint import PipelineEndpoint, PipelineIdVersion
    from pipeline_core.pipeline.core.published_pipeline import api_base
    from pipeline_core.rest.links import endpoint_submit_url

    versions = [PipelineIdVersion(str(v["PipelineId"]), str(v["Version"]), workspace)
                for v in entity.get("Versions") or []]
    return PipelineEndpoint(workspace, entity["Id"], entity["Name"], entity.get("Description") or "",
                            entity["Status"], str(entity["DefaultVersion"]),
                            endpoint_submit_url(api_base(workspace), entity["Id"]), versions)


def create_endpoint(workspace: Workspace, name: Any, description: Any, pipeline_id: str) -> PipelineEndpoint:
    """``PipelineEndpoint.publish``: ``POST /api/pipelineendpoints``.

    Name and description are checked here with the local path's own checks
    first, so a bad one fails before any request with the message a local
    workspace gives (the server checks them again).
    """
    from pipeline_core.application.publishing import check_name, check_text

    name = check_name(name, "pipeline endpoint name")
    text = check_text(description, "description")
    return endpoint_from_entity(workspace, client_for(workspace).create_endpoint(name, text, pipeline_id))


def get_endpoint(workspace: Workspace, id: str | None = None, name: str | None = None) -> PipelineEndpoint:
    """``PipelineEndpoint.get``: by id when given, else by name (never one taken for the other)."""
    if id:
        return endpoint_from_entity(workspace, client_for(workspace).get_endpoint(id, by="id"))
    if name:
        return endpoint_from_entity(workspace, client_for(workspace).get_endpoint(name, by="name"))
    raise AmliteError("PipelineEndpoint.get needs id= or name=")


def list_endpoints(workspace: Workspace, active_only: bool = True) -> list[PipelineEndpoint]:
    return [endpoint_from_entity(workspace, entity) for entity in client_for(workspace).list_endpoints(active_only)]


def add_version(workspace: Workspace, endpoint_id: str, pipeline_id: str, make_default: bool) -> PipelineEndpoint:
    entity = client_for(workspace).add_endpoint_version(endpoint_id, pipeline_id, make_default)
    return endpoint_from_entity(workspace, entity)


def set_default_version(workspace: Workspace, endpoint_id: str, version: str) -> PipelineEndpoint:
    entity = client_for(workspace).set_endpoint_default_version(endpoint_id, str(version))
    return endpoint_from_entity(workspace, entity)


def set_endpoint_status(workspace: Workspace, endpoint_id: str, enable: bool) -> PipelineEndpoint:
    return endpoint_from_entity(workspace, client_for(workspace).set_endpoint_status(endpoint_id, enable))


def endpoint_pipeline(workspace: Workspace, endpoint_id: str, version: str | None = None) -> PublishedPipeline:
    """``PipelineEndpoint.get_pipeline``: the endpoint's current versions, then that version's pipeline.

    Read fresh (not from the object's cached list) so another client's new
    default is seen, as the local path sees it.
    """
    endpoint = get_endpoint(workspace, id=endpoint_id)
    wanted = str(version) if version is not None else endpoint.default_version
    for entry in endpoint.pipeline_version_list:
        if entry.version == wanted:
            return get_published(workspace, entry.pipeline_id)
    listed = ", ".join(v.version for v in endpoint.pipeline_version_list) or "none"
    raise NotFoundError(f"pipeline endpoint {endpoint.name!r} has no version {wanted!r}; its versions: {listed}")
