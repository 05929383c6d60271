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
        submit = getattr(config, "_submit_to_experiment", None)  # Pipeline, PublishedPipeline, PipelineEndpoint
        if submit is None:
            hint = ("; a ScriptRunConfig runs as a PythonScriptStep in a Pipeline, or as the trials of a "
                    "HyperDriveStep(hyperdrive_config=HyperDriveConfig(run_config=...))"
                    if type(config).__name__ == "ScriptRunConfig" else "")
            raise AmliteError(f"Experiment.submit expects a Pipeline, PublishedPipeline or PipelineEndpoint, "
                              f"got {type(config).__name__}{hint}")
        run: PipelineRun = submit(self, tags=tags, **kwargs)
        return run

    def get_runs(self, type: str | None = None, tags: Any = None, properties: Any = None,
                 include_children: bool = False) -> list[PipelineRun]:
        from pipeline_core.pipeline.core.run import PipelineRun  # it imports Experiment's package back

        return [PipelineRun(self, run_id) for run_id in self.workspace.backend.list_runs(self.name)]

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
