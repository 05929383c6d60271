"""``Experiment``: a named group of runs, and where ``submit`` starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core.engine.submit import check_experiment_name
from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.pipeline.core.run import PipelineRun


class Experiment:
    def __init__(self, workspace: Workspace, name: str, **kwargs: Any):
        self.workspace = workspace
        self.name = check_experiment_name(name)

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> PipelineRun:
        """Submit a ``Pipeline`` (AML v1 keywords: pipeline_parameters, regenerate_outputs, continue_on_step_failure),
        a ``PublishedPipeline`` or a ``PipelineEndpoint`` (also ``pipeline_version``)."""
        from pipeline_core.engine.launch import launch_run
        from pipeline_core.engine.services import services_for
        from pipeline_core.engine.submit import create_run
        from pipeline_core.pipeline.core.pipeline import Pipeline
        from pipeline_core.pipeline.core.pipeline_endpoint import PipelineEndpoint
        from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline
        from pipeline_core.pipeline.core.run import PipelineRun

        if isinstance(config, (PublishedPipeline, PipelineEndpoint)):
            return config._submit_to_experiment(self, tags=tags, **kwargs)
        if not isinstance(config, Pipeline):
            raise AmliteError(f"Experiment.submit expects a Pipeline, PublishedPipeline or PipelineEndpoint, "
                              f"got {type(config).__name__}")
        unknown = set(kwargs) - {"pipeline_parameters", "regenerate_outputs", "continue_on_step_failure",
                                 "description", "credential_passthrough", "parent_run_id"}
        if unknown:
            raise AmliteError(f"Experiment.submit got unknown arguments {sorted(unknown)}; AML v1 accepts "
                              "pipeline_parameters, regenerate_outputs, continue_on_step_failure, tags")
        spec = config._validated_spec()
        if self.workspace.endpoint is not None:  # AML v1 sends the graph with the submit; so do we
            from pipeline_core.client.remote import submit_pipeline

            return submit_pipeline(self, spec, tags, kwargs)
        services = services_for(self.workspace.storage)
        run_id = create_run(
            services, spec, self.name, parameters=kwargs.get("pipeline_parameters"),
            regenerate_outputs=bool(kwargs.get("regenerate_outputs", False)),
            continue_on_step_failure=kwargs.get("continue_on_step_failure"),
            description=kwargs.get("description"), tags=tags, run_source="SDK")
        launch_run(services, run_id)
        return PipelineRun(self, run_id)

    def get_runs(self, type: str | None = None, tags: Any = None, properties: Any = None,
                 include_children: bool = False) -> list[PipelineRun]:
        from pipeline_core.engine.services import services_for
        from pipeline_core.pipeline.core.run import PipelineRun

        if self.workspace.endpoint is not None:
            from pipeline_core.client.remote import list_runs

            return list_runs(self)
        rows = services_for(self.workspace.storage).runs.list_runs(self.name)
        return [PipelineRun(self, row["PartitionKey"]) for row in rows]

    @staticmethod
    def _names(workspace: Workspace) -> list[str]:
        from pipeline_core.engine.services import services_for

        return services_for(workspace.storage).runs.experiment_names()

    @staticmethod
    def list(workspace: Workspace, experiment_name: str | None = None, view_type: str = "ActiveOnly",
             tags: Any = None) -> list[Experiment]:
        """AML's ``Experiment.list``: the experiments that have runs, or the one named."""
        names = Experiment._names(workspace)
        return [Experiment(workspace, n) for n in names if experiment_name in (None, n)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"
