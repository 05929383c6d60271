"""``PublishedPipeline``: a pipeline stored under an id so it can be submitted by REST (AML v1).

The published record lives in the ``pipelines`` table and points at the
content-addressed spec blob; nothing here re-reads the user's source folders,
so a published pipeline runs the code as it was when it was published.

On a workspace with an ``endpoint``, ``get``/``list``/``enable``/``disable``
(like submit) go through the Functions app's REST API
(``pipeline_core.client.management``): the caller may hold only the app URL
and a token, not the storage account.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.pipeline.core.identity import PublishedIdentity

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.engine.services import Services
    from pipeline_core.pipeline.core.run import PipelineRun
    from pipeline_core.storage.pipeline_store import PipelineRecord

LOCAL_ENDPOINT = "http://127.0.0.1:7071"
SUBMIT_KEYWORDS = ("pipeline_parameters", "parent_run_id", "continue_on_step_failure", "regenerate_outputs",
                   "description", "credential_passthrough")


def api_base(workspace: Workspace) -> str:
    """The Functions app URL runs are POSTed to: the workspace endpoint, or the local host.

    Without a trailing ``/api``: config.json may name the app either way (the REST
    client accepts both), and the route paths added to this carry ``/api`` themselves.
    """
    from pipeline_core.rest.request import normalize_base_url

    return normalize_base_url(getattr(workspace, "endpoint", None) or LOCAL_ENDPOINT)


def _services(workspace: Workspace) -> Services:
    from pipeline_core.engine.services import services_for

    return services_for(workspace.storage)


class PublishedPipeline(PublishedIdentity):
    """AML v1 ``PublishedPipeline``. Get one from ``Pipeline.publish`` or ``PublishedPipeline.get``."""

    def __init__(self, name: str, graph_id: str, description: str, version: str, published_pipeline_id: str,
                 status: str, endpoint: str, total_run_steps: int, workspace: Workspace,
                 continue_on_step_failure: bool | None = None, _pipeline_provider: Any = None, **kwargs: Any):
        self._name = name
        self._graph_id = graph_id
        self._description = description
        self._version = version
        self._id = published_pipeline_id
        self._status = status
        self._endpoint = endpoint
        self._total_run_steps = total_run_steps
        self._workspace = workspace
        self._continue_on_step_failure = continue_on_step_failure

    @classmethod
    def _from_record(cls, workspace: Workspace, record: PipelineRecord) -> PublishedPipeline:
        from pipeline_core.rest.links import pipeline_submit_url

        return cls(name=record.name, graph_id=record.graph_id, description=record.description,
                   version=record.version, published_pipeline_id=record.id, status=record.status,
                   endpoint=pipeline_submit_url(api_base(workspace), record.id),
                   total_run_steps=record.total_run_steps, workspace=workspace,
                   continue_on_step_failure=record.continue_on_step_failure)

    # -- AML v1 properties -------------------------------------------------------------
    @property
    def version(self) -> str:
        return self._version

    @property
    def status(self) -> str:
        """``Active`` or ``Disabled`` as of the last read (``get`` again to refresh)."""
        return self._status

    @property
    def graph_id(self) -> str:
        return self._graph_id

    @property
    def endpoint(self) -> str:
        """The full URL to POST a submit body to (``{ExperimentName, ParameterAssignments, ...}``)."""
        return self._endpoint

    @property
    def total_run_steps(self) -> int:
        return self._total_run_steps

    @property
    def continue_on_step_failure(self) -> bool | None:
        return self._continue_on_step_failure

    # -- lookups -------------------------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, id: str, _workflow_provider: Any = None,
            _service_endpoint: Any = None) -> PublishedPipeline:
        if workspace.endpoint is not None:
            from pipeline_core.client.management import get_published

            return get_published(workspace, id)
        from pipeline_core.application.stores import pipeline_store

        return PublishedPipeline._from_record(workspace, pipeline_store(_services(workspace)).get(id))

    @staticmethod
    def list(workspace: Workspace, active_only: bool = True, _service_endpoint: Any = None) -> list[PublishedPipeline]:
        """Newest first; ``active_only=False`` includes disabled pipelines."""
        if workspace.endpoint is not None:
            from pipeline_core.client.management import list_published

            return list_published(workspace, active_only)
        from pipeline_core.application.stores import pipeline_store

        records = pipeline_store(_services(workspace)).list(active_only=active_only)
        return [PublishedPipeline._from_record(workspace, r) for r in records]

    @staticmethod
    def get_all(workspace: Workspace, active_only: bool = True,
                _service_endpoint: Any = None) -> builtins.list[PublishedPipeline]:
        """Deprecated in AML v1 in favour of ``list``; kept for migrated code."""
        return PublishedPipeline.list(workspace, active_only)

    def get_step_names(self) -> builtins.list[str]:
        return _services(self._workspace).load_spec(self._graph_id).step_names

    # -- state ---------------------------------------------------------------------------
    def enable(self) -> None:
        self._set_status(True)

    def disable(self) -> None:
        """Refused (ConflictError) while an active schedule still submits this pipeline."""
        self._set_status(False)

    def _set_status(self, enable: bool) -> None:
        if self._workspace.endpoint is not None:
            from pipeline_core.client.management import set_published_status

            self._status = set_published_status(self._workspace, self._id, enable)
            return
        from pipeline_core.application.publishing import set_pipeline_status

        self._status = set_pipeline_status(_services(self._workspace), self._id, enable).status

    # -- submit --------------------------------------------------------------------------
    def submit(self, workspace: Workspace, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               _workflow_provider: Any = None, _service_endpoint: Any = None, parent_run_id: str | None = None,
               continue_on_step_failure: bool | None = None) -> PipelineRun:
        from pipeline_core.core.experiment import Experiment

        return Experiment(workspace, experiment_name).submit(
            self, pipeline_parameters=pipeline_parameters, parent_run_id=parent_run_id,
            continue_on_step_failure=continue_on_step_failure)

    def _submit_to_experiment(self, experiment: Experiment, tags: dict[str, str] | None = None,
                              _endpoint_id: str | None = None, **kwargs: Any) -> PipelineRun:
        """What ``Experiment.submit(published_pipeline, ...)`` does: one run, launched like every other."""
        from pipeline_core.application.stores import pipeline_store
        from pipeline_core.application.submission import SubmitOptions, submit_published
        from pipeline_core.pipeline.core.run import PipelineRun

        unknown = sorted(set(kwargs) - set(SUBMIT_KEYWORDS))
        if unknown:
            raise AmliteError(f"submitting a published pipeline got unknown arguments {unknown}; accepted: "
                              f"{', '.join(SUBMIT_KEYWORDS)}, tags")
        if experiment.workspace.endpoint is not None:  # POST to .endpoint, as a REST caller of AML v1 does
            from pipeline_core.client.remote import submit_to

            return submit_to(experiment, self._endpoint, tags, kwargs)
        services = _services(experiment.workspace)
        notes = []
        if kwargs.get("parent_run_id"):
            notes.append(f"parent_run_id {kwargs['parent_run_id']!r} was accepted and ignored: amlite runs have "
                         "no parent runs")
        options = SubmitOptions(experiment_name=experiment.name, parameters=dict(kwargs.get("pipeline_parameters")
                                                                                 or {}),
                                description=kwargs.get("description"), tags=tags, run_source="SDK",
                                continue_on_step_failure=kwargs.get("continue_on_step_failure"),
                                regenerate_outputs=bool(kwargs.get("regenerate_outputs", False)), notes=notes,
                                pipeline_endpoint_id=_endpoint_id)
        result = submit_published(services, pipeline_store(services).get(self._id), options)
        return PipelineRun(experiment, result.run_id, _services=services)

    def __repr__(self) -> str:
        return (f"PublishedPipeline(name={self._name!r}, id={self._id!r}, version={self._version!r}, "
                f"status={self._status!r})")
