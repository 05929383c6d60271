"""``PublishedPipeline``: a pipeline stored under an id so it can be submitted by REST (AML v1).

The published record lives in the ``pipelines`` table and points at the
content-addressed spec blob; nothing here re-reads the user's source folders,
so a published pipeline runs the code as it was when it was published.

Every call goes through the workspace's backend (``workspace.backend``): its
storage, or, for a workspace with an ``endpoint``, the Functions app's REST API
(the caller may hold only the app URL and a token, not the storage account).
Both answer the same ``PipelineRecord``, so the object is built one way.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.pipeline.core.identity import PublishedIdentity
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.storage.pipeline_store import PipelineRecord

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace

SUBMIT_KEYWORDS = ("pipeline_parameters", "parent_run_id", "continue_on_step_failure", "regenerate_outputs",
                   "description", "credential_passthrough")


def check_submit_keywords(keywords: dict[str, Any], what: str, also: str = "tags") -> None:
    """Refuse keywords AML v1's submit of a published pipeline or endpoint does not take, before any call."""
    unknown = sorted(set(keywords) - set(SUBMIT_KEYWORDS))
    if unknown:
        raise AmliteError(f"submitting {what} got unknown arguments {unknown}; accepted: "
                          f"{', '.join(SUBMIT_KEYWORDS)}, {also}")


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
        """From the record either backend answers; the submit URL is made from the workspace's own base URL."""
        return cls(name=record.name, graph_id=record.graph_id, description=record.description,
                   version=record.version, published_pipeline_id=record.id, status=record.status,
                   endpoint=workspace.backend.pipeline_submit_url(record.id),
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
        return PublishedPipeline._from_record(workspace, workspace.backend.get_pipeline(id))

    @staticmethod
    def list(workspace: Workspace, active_only: bool = True, _service_endpoint: Any = None) -> list[PublishedPipeline]:
        """Newest first; ``active_only=False`` includes disabled pipelines."""
        return [PublishedPipeline._from_record(workspace, r) for r in workspace.backend.list_pipelines(active_only)]

    @staticmethod
    def get_all(workspace: Workspace, active_only: bool = True,
                _service_endpoint: Any = None) -> builtins.list[PublishedPipeline]:
        """Deprecated in AML v1 in favour of ``list``; kept for migrated code."""
        return PublishedPipeline.list(workspace, active_only)

    def get_step_names(self) -> builtins.list[str]:
        from pipeline_core.engine.services import services_for  # engine -> spec -> pipeline.core: on use

        return services_for(self._workspace.storage).load_spec(self._graph_id).step_names

    # -- state ---------------------------------------------------------------------------
    def enable(self) -> None:
        self._set_status(True)

    def disable(self) -> None:
        """Refused (ConflictError) while an active schedule still submits this pipeline."""
        self._set_status(False)

    def _set_status(self, enable: bool) -> None:
        self._status = self._workspace.backend.set_pipeline_status(self._id, enable)

    # -- submit --------------------------------------------------------------------------
    def submit(self, workspace: Workspace, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               _workflow_provider: Any = None, _service_endpoint: Any = None, parent_run_id: str | None = None,
               continue_on_step_failure: bool | None = None) -> PipelineRun:
        from pipeline_core.core.experiment import Experiment

        return Experiment(workspace, experiment_name).submit(
            self, pipeline_parameters=pipeline_parameters, parent_run_id=parent_run_id,
            continue_on_step_failure=continue_on_step_failure)

    def _submit_to_experiment(self, experiment: Experiment, tags: dict[str, str] | None = None,
                              **kwargs: Any) -> PipelineRun:
        """What ``Experiment.submit(published_pipeline, ...)`` does: one run, launched like every other."""
        check_submit_keywords(kwargs, "a published pipeline")
        run_id = experiment.workspace.backend.submit_published(experiment.name, self._id, tags, kwargs)
        return PipelineRun(experiment, run_id)

    def __repr__(self) -> str:
        return (f"PublishedPipeline(name={self._name!r}, id={self._id!r}, version={self._version!r}, "
                f"status={self._status!r})")
