"""``Pipeline``: steps plus the workspace they run in (AML v1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError, ValidationError
from pipeline_core.pipeline.core.builder import StepSequence
from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.pipeline.steps.base import PipelineStep

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.spec import PipelineSpec


def _closure(steps: list[PipelineStep]) -> list[PipelineStep]:
    """The given steps plus every step they depend on (producers of their inputs, run_after), upstream first."""
    ordered: list[PipelineStep] = []
    seen: set[int] = set()

    def add(step: PipelineStep) -> None:
        if id(step) in seen:
            return
        seen.add(id(step))
        for value in list(step._inputs) + list(step._arguments):
            target = getattr(value, "output", value)
            if isinstance(value, tuple):
                continue
            for producer in getattr(target, "_producers", []) or []:
                if producer is not step:
                    add(producer)
        for before in step._run_after:
            add(before)
        ordered.append(step)

    for step in steps:
        add(step)
    return ordered


class Pipeline:
    """A graph of steps. ``steps`` may be a list, a ``StepSequence``, or just the last step (closure)."""

    def __init__(self, workspace: Workspace, steps: Any, description: str | None = None,
                 default_datastore: Any = None, default_source_directory: str | None = None,
                 resolve_closure: bool = True, continue_on_step_failure: bool = False,
                 enable_email_notification: bool | None = None, **kwargs: Any):
        if workspace is None:
            raise AmliteError("Pipeline needs a workspace: Pipeline(workspace=ws, steps=[...])")
        self.workspace = workspace
        self.description = description
        self.default_source_directory = default_source_directory
        self.continue_on_step_failure = continue_on_step_failure
        self.default_datastore = default_datastore
        if isinstance(steps, StepSequence):
            listed = steps.steps
        elif isinstance(steps, PipelineStep):
            listed = [steps]
        else:
            listed = []
            for entry in steps or []:
                listed.extend(entry.steps if isinstance(entry, StepSequence) else [entry])
        for step in listed:
            if not isinstance(step, PipelineStep):
                raise AmliteError(f"Pipeline steps must be steps (e.g. PythonScriptStep), not {step!r}")
        self._steps = _closure(listed) if resolve_closure else listed
        self._spec: PipelineSpec | None = None

    @property
    def steps(self) -> list[PipelineStep]:
        return list(self._steps)

    def spec(self) -> PipelineSpec:
        """Built once; rebuild by making a new Pipeline (steps are not meant to change after this)."""
        from pipeline_core.spec import build_spec

        if self._spec is None:
            self._spec = build_spec(self._steps, self.description, self.default_source_directory,
                                    self.continue_on_step_failure)
        return self._spec

    @property
    def graph_id(self) -> str:
        return self.spec().graph_id

    def _check_data(self, datastore: str, path: str | None) -> str | None:
        from pipeline_core.core.datastore import check_data_path

        return check_data_path(self.workspace, datastore, path)

    def validate(self) -> list[str]:
        """Every structural problem, each naming the step and the argument; empty when the pipeline is sound."""
        from pipeline_core.validation import validate_spec

        return validate_spec(self.spec(), self._check_data)

    def _validated_spec(self) -> PipelineSpec:
        errors = self.validate()
        if errors:
            raise ValidationError(errors)
        return self.spec()

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               continue_on_step_failure: bool | None = None, regenerate_outputs: bool = False,
               **kwargs: Any) -> PipelineRun:
        from pipeline_core.core.experiment import Experiment

        return Experiment(self.workspace, experiment_name).submit(
            self, pipeline_parameters=pipeline_parameters, continue_on_step_failure=continue_on_step_failure,
            regenerate_outputs=regenerate_outputs, **kwargs)

    def _submit_to_experiment(self, experiment: Experiment, tags: dict[str, str] | None = None,
                              **kwargs: Any) -> PipelineRun:
        """What ``Experiment.submit(pipeline, ...)`` does: validate, then one run (AML v1 sends the graph)."""
        unknown = set(kwargs) - {"pipeline_parameters", "regenerate_outputs", "continue_on_step_failure",
                                 "description", "credential_passthrough", "parent_run_id"}
        if unknown:
            raise AmliteError(f"Experiment.submit got unknown arguments {sorted(unknown)}; AML v1 accepts "
                              "pipeline_parameters, regenerate_outputs, continue_on_step_failure, tags")
        spec = self._validated_spec()
        return PipelineRun(experiment, experiment.workspace.backend.submit_spec(experiment.name, spec, tags, kwargs))

    def publish(self, name: str | None = None, description: str | None = None, version: str | None = None,
                continue_on_step_failure: bool | None = None) -> PublishedPipeline:
        """Validate, upload snapshots and spec, and store a new Active published pipeline (AML v1).

        ``continue_on_step_failure=None`` keeps the pipeline's own setting; a submit may still override it.
        """
        if not name:
            raise AmliteError("Pipeline.publish needs name=, the name the published pipeline is listed under")
        spec = self._validated_spec()
        record = self.workspace.backend.publish(spec, name, description if description is not None
                                                else self.description, version, continue_on_step_failure)
        return PublishedPipeline._from_record(self.workspace, record)

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self._steps]!r})"
