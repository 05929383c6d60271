"""``PipelineEndpoint``: one stable URL in front of successive versions of a published pipeline (AML v1).

Versions are ``"0"``, ``"1"``, ... in the order pipelines are added; a submit
without a version runs the default version. Callers keep the URL while the
pipeline behind it changes, which is why endpoints exist.

On a workspace with an ``endpoint`` every method here goes through the
Functions app's REST API (``pipeline_core.client.management``), not the
storage account: the caller may hold only the app URL and a token.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.pipeline.core.identity import PublishedIdentity
from pipeline_core.pipeline.core.published_pipeline import (
    SUBMIT_KEYWORDS,
    PublishedPipeline,
    _services,
    api_base,
)

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.pipeline.core.run import PipelineRun
    from pipeline_core.storage.endpoint_store import EndpointRecord


@dataclass(frozen=True)
class PipelineIdVersion:
    """AML v1's (pipeline id, version) pair of an endpoint; ``pipeline`` fetches that published pipeline."""

    pipeline_id: str
    version: str
    _workspace: Any = field(default=None, compare=False, repr=False)

    @property
    def pipeline(self) -> PublishedPipeline:
        from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline

        if self._workspace is None:
            raise AmliteError("this PipelineIdVersion was made without a workspace; take it from "
                              "PipelineEndpoint.list_versions()")
        return PublishedPipeline.get(self._workspace, self.pipeline_id)


class PipelineEndpoint(PublishedIdentity):
    def __init__(self, workspace: Workspace, id: str, name: str, description: str, status: str,
                 default_version: str, endpoint: str, pipeline_version_list: builtins.list[PipelineIdVersion],
                 _pipeline_endpoint_provider: Any = None, _published_pipeline_provider: Any = None,
                 _swaggerurl: str | None = None):
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._status = status
        self._default_version = default_version
        self._endpoint = endpoint
        self._pipeline_version_list = list(pipeline_version_list)

    @classmethod
    def _from_record(cls, workspace: Workspace, record: EndpointRecord) -> PipelineEndpoint:
        from pipeline_core.application.stores import endpoint_store
        from pipeline_core.rest.links import endpoint_submit_url

        versions = endpoint_store(_services(workspace)).versions(record.name)
        return cls(workspace, record.id, record.name, record.description, record.status, record.default_version,
                   endpoint_submit_url(api_base(workspace), record.id),
                   [PipelineIdVersion(v.pipeline_id, v.version, workspace) for v in versions])

    def _record(self) -> EndpointRecord:
        from pipeline_core.application.stores import endpoint_store

        return endpoint_store(_services(self._workspace)).get(self._id)

    @property
    def _remote(self) -> bool:
        return self._workspace.endpoint is not None

    def _refresh(self, record: EndpointRecord | None = None) -> None:
        """Re-read the endpoint (or take ``record``, just written) so the properties show what is stored."""
        if self._remote:
            from pipeline_core.client.management import get_endpoint

            self._take(get_endpoint(self._workspace, id=self._id))
            return
        self._take(PipelineEndpoint._from_record(self._workspace, record or self._record()))

    def _take(self, fresh: PipelineEndpoint) -> None:
        self.__dict__.update(fresh.__dict__)

    # -- AML v1 properties -------------------------------------------------------------
    @property
    def status(self) -> str:
        return self._status

    @property
    def default_version(self) -> str:
        return self._default_version

    @property
    def endpoint(self) -> str:
        """The full URL to POST a submit body to; ``?version=`` picks a version other than the default."""
        return self._endpoint

    @property
    def swaggerurl(self) -> str:
        return f"{api_base(self._workspace)}/api/openapi.json"

    @property
    def pipeline_version_list(self) -> builtins.list[PipelineIdVersion]:
        return list(self._pipeline_version_list)

    # -- create / look up ----------------------------------------------------------------
    @staticmethod
    def publish(workspace: Workspace, name: str, description: str, pipeline: Any,
                _workflow_provider: Any = None, _service_endpoint: Any = None) -> PipelineEndpoint:
        """A new endpoint whose version ``"0"`` is ``pipeline`` (a ``PublishedPipeline``, or a ``Pipeline``
        that is published first under the endpoint's name)."""
        published = _as_published(pipeline, name, description)
        if workspace.endpoint is not None:
            from pipeline_core.client.management import create_endpoint

            return create_endpoint(workspace, name, description, published.id)
        from pipeline_core.application.publishing import publish_endpoint

        record = publish_endpoint(_services(workspace), name, description, published.id)
        return PipelineEndpoint._from_record(workspace, record)

    @staticmethod
    def get(workspace: Workspace, id: str | None = None, name: str | None = None,
            _workflow_provider: Any = None, _service_endpoint: Any = None) -> PipelineEndpoint:
        """By ``id`` when given, else by ``name``."""
        if workspace.endpoint is not None:
            from pipeline_core.client.management import get_endpoint

            return get_endpoint(workspace, id=id, name=name)
        from pipeline_core.application.stores import endpoint_store

        store = endpoint_store(_services(workspace))
        if id:
            return PipelineEndpoint._from_record(workspace, store.get(id))
        if name:
            return PipelineEndpoint._from_record(workspace, store.get_by_name(name))
        raise AmliteError("PipelineEndpoint.get needs id= or name=")

    @staticmethod
    def list(workspace: Workspace, active_only: bool = True, _workflow_provider: Any = None,
             _service_endpoint: Any = None) -> builtins.list[PipelineEndpoint]:
        """By name; ``active_only=False`` includes disabled endpoints."""
        if workspace.endpoint is not None:
            from pipeline_core.client.management import list_endpoints

            return list_endpoints(workspace, active_only)
        from pipeline_core.application.stores import endpoint_store

        records = endpoint_store(_services(workspace)).list(active_only=active_only)
        return [PipelineEndpoint._from_record(workspace, r) for r in records]

    # -- versions --------------------------------------------------------------------------
    def add(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` as the next version (a pipeline already on the endpoint keeps its version)."""
        self._add(pipeline, make_default=False)

    def add_default(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` (if new) and make its version the default."""
        self._add(pipeline, make_default=True)

    def _add(self, pipeline: PublishedPipeline, make_default: bool) -> None:
        from pipeline_core.application.publishing import add_endpoint_version

        if not isinstance(pipeline, PublishedPipeline):
            raise AmliteError(f"PipelineEndpoint.add expects a PublishedPipeline, got {type(pipeline).__name__}; "
                              "publish the pipeline first (pipeline.publish(name=...))")
        if self._remote:
            from pipeline_core.client.management import add_version

            self._take(add_version(self._workspace, self._id, pipeline.id, make_default))
            return
        add_endpoint_version(_services(self._workspace), self._record(), pipeline.id, make_default)
        self._refresh()

    def set_default(self, pipeline: PublishedPipeline) -> None:
        """Make the version holding ``pipeline`` the default (it must be on the endpoint already)."""
        for entry in self._pipeline_version_list:
            if entry.pipeline_id == pipeline.id:
                self.set_default_version(entry.version)
                return
        raise AmliteError(f"published pipeline {pipeline.id!r} is not a version of endpoint {self._name!r}; "
                          "add it with add_default(pipeline)")

    def set_default_version(self, version: str) -> None:
        if self._remote:
            from pipeline_core.client.management import set_default_version

            self._take(set_default_version(self._workspace, self._id, str(version)))
            return
        from pipeline_core.application.stores import endpoint_store

        record = endpoint_store(_services(self._workspace)).set_default(self._name, str(version))
        self._refresh(record)

    def get_default_version(self) -> str:
        self._refresh()
        return self._default_version

    def list_versions(self) -> builtins.list[PipelineIdVersion]:
        self._refresh()
        return list(self._pipeline_version_list)

    def get_pipeline(self, version: str | None = None) -> PublishedPipeline:
        """The published pipeline of ``version`` (default: the default version)."""
        if self._remote:
            from pipeline_core.client.management import endpoint_pipeline as remote_pipeline

            return remote_pipeline(self._workspace, self._id, None if version is None else str(version))
        from pipeline_core.application.publishing import endpoint_pipeline

        record = endpoint_pipeline(_services(self._workspace), self._record(), version)
        return PublishedPipeline._from_record(self._workspace, record)

    def list_pipelines(self, active_only: bool = True) -> builtins.list[PublishedPipeline]:
        pipelines = [PublishedPipeline.get(self._workspace, v.pipeline_id) for v in self.list_versions()]
        return [p for p in pipelines if p.status == "Active" or not active_only]

    # -- state -----------------------------------------------------------------------------
    def enable(self) -> None:
        self._set_status(True)

    def disable(self) -> None:
        self._set_status(False)

    def archive(self) -> None:
        """AML's archive hides an endpoint from submits; here that is ``disable``."""
        self._set_status(False)

    def reactivate(self, name: str | None = None) -> None:
        self._set_status(True)

    def _set_status(self, enable: bool) -> None:
        if self._remote:
            from pipeline_core.client.management import set_endpoint_status as remote_status

            self._take(remote_status(self._workspace, self._id, enable))
            return
        from pipeline_core.application.publishing import set_endpoint_status

        self._refresh(set_endpoint_status(_services(self._workspace), self._record(), enable))

    # -- submit ------------------------------------------------------------------------------
    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               parent_run_id: str | None = None, pipeline_version: str | None = None) -> PipelineRun:
        from pipeline_core.core.experiment import Experiment

        return Experiment(self._workspace, experiment_name).submit(
            self, pipeline_parameters=pipeline_parameters, parent_run_id=parent_run_id,
            pipeline_version=pipeline_version)

    def _submit_to_experiment(self, experiment: Experiment, tags: dict[str, str] | None = None,
                              pipeline_version: str | None = None, **kwargs: Any) -> PipelineRun:
        from pipeline_core.application.publishing import endpoint_pipeline, require_active_endpoint

        if experiment.workspace.endpoint is not None:  # POST to .endpoint; the server picks the version
            from pipeline_core.client.remote import submit_to

            unknown = sorted(set(kwargs) - set(SUBMIT_KEYWORDS))
            if unknown:
                raise AmliteError(f"submitting to a pipeline endpoint got unknown arguments {unknown}; accepted: "
                                  f"{', '.join(SUBMIT_KEYWORDS)}, pipeline_version, tags")
            return submit_to(experiment, self._endpoint, tags, kwargs,
                             None if pipeline_version is None else str(pipeline_version))
        services = _services(experiment.workspace)
        record = require_active_endpoint(self._record())
        pipeline = endpoint_pipeline(services, record, pipeline_version)
        published = PublishedPipeline._from_record(experiment.workspace, pipeline)
        return published._submit_to_experiment(experiment, tags=tags, _endpoint_id=record.id, **kwargs)

    def __repr__(self) -> str:
        return (f"PipelineEndpoint(name={self._name!r}, id={self._id!r}, default_version={self._default_version!r},"
                f" status={self._status!r})")


def _as_published(pipeline: Any, name: str, description: str) -> PublishedPipeline:
    from pipeline_core.pipeline.core.pipeline import Pipeline

    if isinstance(pipeline, PublishedPipeline):
        return pipeline
    if isinstance(pipeline, Pipeline):
        return pipeline.publish(name=name, description=description)
    raise AmliteError(f"PipelineEndpoint.publish expects a Pipeline or PublishedPipeline, got "
                      f"{type(pipeline).__name__}")
