"""``PipelineEndpoint``: one stable URL in front of successive versions of a published pipeline (AML v1).

Versions are ``"0"``, ``"1"``, ... in the order pipelines are added; a submit
without a version runs the default version. Callers keep the URL while the
pipeline behind it changes, which is why endpoints exist.

Every method goes through the workspace's backend (``workspace.backend``): its
storage, or, for a workspace with an ``endpoint``, the Functions app's REST API
(the caller may hold only the app URL and a token). Both answer an
``EndpointView`` (the endpoint and its versions), so the object is built one way.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline_core.backend import EndpointView
from pipeline_core.errors import AmliteError
from pipeline_core.pipeline.core.identity import PublishedIdentity
from pipeline_core.pipeline.core.pipeline import Pipeline
from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline, check_submit_keywords
from pipeline_core.pipeline.core.run import PipelineRun

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace


@dataclass(frozen=True)
class PipelineIdVersion:
    """AML v1's (pipeline id, version) pair of an endpoint; ``pipeline`` fetches that published pipeline."""

    pipeline_id: str
    version: str
    _workspace: Any = field(default=None, compare=False, repr=False)

    @property
    def pipeline(self) -> PublishedPipeline:
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
    def _from_view(cls, workspace: Workspace, view: EndpointView) -> PipelineEndpoint:
        """From what either backend answers; the submit URL is made from the workspace's own base URL."""
        record = view.record
        return cls(workspace, record.id, record.name, record.description, record.status, record.default_version,
                   workspace.backend.endpoint_submit_url(record.id),
                   [PipelineIdVersion(v.pipeline_id, v.version, workspace) for v in view.versions])

    def _take(self, view: EndpointView) -> None:
        """Show ``view`` (just read or written) from now on."""
        self.__dict__.update(PipelineEndpoint._from_view(self._workspace, view).__dict__)

    def _refresh(self) -> None:
        self._take(self._workspace.backend.get_endpoint(id=self._id))

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
        return f"{self._workspace.backend.api_base}/api/openapi.json"

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
        return PipelineEndpoint._from_view(workspace, workspace.backend.create_endpoint(name, description,
                                                                                        published.id))

    @staticmethod
    def get(workspace: Workspace, id: str | None = None, name: str | None = None,
            _workflow_provider: Any = None, _service_endpoint: Any = None) -> PipelineEndpoint:
        """By ``id`` when given, else by ``name``."""
        return PipelineEndpoint._from_view(workspace, workspace.backend.get_endpoint(id=id, name=name))

    @staticmethod
    def list(workspace: Workspace, active_only: bool = True, _workflow_provider: Any = None,
             _service_endpoint: Any = None) -> builtins.list[PipelineEndpoint]:
        """By name; ``active_only=False`` includes disabled endpoints."""
        return [PipelineEndpoint._from_view(workspace, v) for v in workspace.backend.list_endpoints(active_only)]

    # -- versions --------------------------------------------------------------------------
    def add(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` as the next version (a pipeline already on the endpoint keeps its version)."""
        self._add(pipeline, make_default=False)

    def add_default(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` (if new) and make its version the default."""
        self._add(pipeline, make_default=True)

    def _add(self, pipeline: PublishedPipeline, make_default: bool) -> None:
        if not isinstance(pipeline, PublishedPipeline):
            raise AmliteError(f"PipelineEndpoint.add expects a PublishedPipeline, got {type(pipeline).__name__}; "
                              "publish the pipeline first (pipeline.publish(name=...))")
        self._take(self._workspace.backend.add_endpoint_version(self._id, pipeline.id, make_default))

    def set_default(self, pipeline: PublishedPipeline) -> None:
        """Make the version holding ``pipeline`` the default (it must be on the endpoint already)."""
        for entry in self._pipeline_version_list:
            if entry.pipeline_id == pipeline.id:
                self.set_default_version(entry.version)
                return
        raise AmliteError(f"published pipeline {pipeline.id!r} is not a version of endpoint {self._name!r}; "
                          "add it with add_default(pipeline)")

    def set_default_version(self, version: str) -> None:
        self._take(self._workspace.backend.set_endpoint_default_version(self._id, str(version)))

    def get_default_version(self) -> str:
        self._refresh()
        return self._default_version

    def list_versions(self) -> builtins.list[PipelineIdVersion]:
        self._refresh()
        return list(self._pipeline_version_list)

    def get_pipeline(self, version: str | None = None) -> PublishedPipeline:
        """The published pipeline of ``version`` (default: the default version), as stored now."""
        record = self._workspace.backend.endpoint_pipeline(self._id, None if version is None else str(version))
        return PublishedPipeline._from_record(self._workspace, record)

    def list_pipelines(self, active_only: bool = True) -> builtins.list[PublishedPipeline]:
        pipelines = [PublishedPipeline.get(self._workspace, v.pipeline_id) for v in self.list_versions()]
        return [p for p in pipelines if p.status == "Active" or not active_only]

    # -- state -----------------------------------------------------------------------------
    def set_name(self, name: str) -> None:
        """Rename the endpoint (AML v1): same id, versions and status; its by-name URL changes."""
        self._take(self._workspace.backend.rename_endpoint(self._id, name))

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
        self._take(self._workspace.backend.set_endpoint_status(self._id, enable))

    # -- submit ------------------------------------------------------------------------------
    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               parent_run_id: str | None = None, pipeline_version: str | None = None) -> PipelineRun:
        from pipeline_core.core.experiment import Experiment

        return Experiment(self._workspace, experiment_name).submit(
            self, pipeline_parameters=pipeline_parameters, parent_run_id=parent_run_id,
            pipeline_version=pipeline_version)

    def _submit_to_experiment(self, experiment: Experiment, tags: dict[str, str] | None = None,
                              pipeline_version: str | None = None, **kwargs: Any) -> PipelineRun:
        """One run of ``pipeline_version`` (None: the default version when the submit arrives)."""
        check_submit_keywords(kwargs, "to a pipeline endpoint", "pipeline_version, tags")
        run_id = experiment.workspace.backend.submit_endpoint(
            experiment.name, self._id, None if pipeline_version is None else str(pipeline_version), tags, kwargs)
        return PipelineRun(experiment, run_id)

    def __repr__(self) -> str:
        return (f"PipelineEndpoint(name={self._name!r}, id={self._id!r}, default_version={self._default_version!r},"
                f" status={self._status!r})")


def _as_published(pipeline: Any, name: str, description: str) -> PublishedPipeline:
    if isinstance(pipeline, PublishedPipeline):
        return pipeline
    if isinstance(pipeline, Pipeline):
        return pipeline.publish(name=name, description=description)
    raise AmliteError(f"PipelineEndpoint.publish expects a Pipeline or PublishedPipeline, got "
                      f"{type(pipeline).__name__}")
