"""``HyperDriveStep`` and ``HyperDriveStepRun`` with AML v1's arguments (``azureml.pipeline.steps``).

The step runs its ``HyperDriveConfig``'s trials as child runs (the CHILD_RUNS step kind,
``train/hyperdrive/step_kind.py``); its spec entry carries the script and snapshot of the
config's ``ScriptRunConfig`` and the config in AML's recorded form.
"""

from __future__ import annotations

from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.execution.step_settings import check_run_duration
from pipeline_core.pipeline.core.training_output import TrainingOutput
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken
from pipeline_core.train.hyperdrive.config import HyperDriveConfig
from pipeline_core.train.hyperdrive.run import HyperDriveStepRun as _HyperDriveStepRun
from pipeline_core.train.hyperdrive.run import TrialRecord


class HyperDriveStep(PipelineStep):
    """Tunes ``hyperdrive_config.run_config``'s script: one child run per trial, judged by its logged metrics.

    ``outputs`` holding a ``PipelineData(training_output=TrainingOutput("Metrics"))`` get every trial's
    metrics as one JSON file (``metrics_output`` too); ``TrainingOutput("Model", model_file=...)`` the
    best trial's file from its ``./outputs``. Another output is passed to each trial like an argument
    and what a trial writes there lands under ``{output}/{child run name}/``.
    """

    step_type = "HyperDriveStep"

    def __init__(self, name: str, hyperdrive_config: HyperDriveConfig,
                 estimator_entry_script_arguments: list[Any] | None = None, inputs: list[Any] | None = None,
                 outputs: list[Any] | None = None, metrics_output: Any = None, allow_reuse: bool = True,
                 version: str | None = None):
        if not isinstance(hyperdrive_config, HyperDriveConfig):
            raise ValueError(f"HyperDriveStep {name!r}: hyperdrive_config must be a HyperDriveConfig, "
                             f"got {type(hyperdrive_config).__name__}")
        run_config = hyperdrive_config.run_config
        outputs = list(outputs or [])
        if metrics_output is not None and metrics_output not in outputs:
            outputs.append(metrics_output)
        arguments = list(getattr(run_config, "arguments", None) or []) + list(estimator_entry_script_arguments or [])
        super().__init__(name, inputs, outputs, arguments, allow_reuse)
        self.hyperdrive_config = hyperdrive_config
        self.script_name = run_config.script
        self.source_directory = getattr(run_config, "source_directory", None)
        self.metrics_output = metrics_output
        self.version = version
        if version is not None:
            warn_ignored("HyperDriveStep(version=...)")

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        """The config in AML's recorded form, and which outputs carry a TrainingOutput (metrics or model)."""
        from pipeline_core.core.environment import environment_entry

        training: dict[str, Any] = {}
        for output in self._outputs:
            wanted = getattr(output, "training_output", None)
            if wanted is None and output is self.metrics_output:
                wanted = TrainingOutput("Metrics")
            if isinstance(wanted, TrainingOutput):
                found = token(output, "outputs")
                if isinstance(found, dict) and "data" in found:
                    training[str(found["data"])] = wanted.to_dict()
        fields: dict[str, Any] = {"hyperdrive": self.hyperdrive_config.to_aml(), "training_outputs": training}
        runconfig = getattr(self.hyperdrive_config.run_config, "run_config", None)
        environment = environment_entry(getattr(runconfig, "environment", None))
        if environment is not None:
            fields["environment"] = environment
        limit = check_run_duration(getattr(runconfig, "max_run_duration_seconds", None),
                                   f"step {self.name!r}: run_config.max_run_duration_seconds")
        if limit is not None:  # each trial's run-time limit (a trial over it fails)
            fields["max_run_duration_seconds"] = limit
        return fields

    def recorded(self) -> dict[str, Any]:
        return {"version": self.version, "ignored": sorted(self.hyperdrive_config.ignored)}


class HyperDriveStepRun(_HyperDriveStepRun):
    """A HyperDriveStep's step run (AML's ``HyperDriveStepRun(step_run)``): its trials ranked by the metric."""

    def __init__(self, step_run: Any = None, **kwargs: Any):
        if step_run is not None and "children" not in kwargs:
            kwargs["children"] = trial_records_of(step_run)
            kwargs.setdefault("primary_metric_name", _metric(step_run)[0])
            kwargs.setdefault("primary_metric_goal", _metric(step_run)[1])
        super().__init__(step_run, **kwargs)

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Any:
        """The best child as a run (``id``, ``get_metrics()``, ``get_file_names()``, ``download_file``,
        ``register_model``), as AML returns it; None when no child logged the primary metric."""
        best = super().get_best_run_by_primary_metric(include_failed, include_canceled, include_resume_from_runs)
        if best is None or self.step_run is None:
            return best
        return next((c for c in self.get_children() if getattr(c, "id", None) == best.run_id), best)

    def get_children(self) -> list[Any]:  # type: ignore[override]
        """The trials as child runs (``id``, ``get_status()``, ``get_metrics()``), in the order they started."""
        if self.step_run is not None and hasattr(self.step_run, "get_children"):
            return list(self.step_run.get_children())
        return super().get_children()


def _metric(step_run: Any) -> tuple[str, str]:
    doc = (step_run._spec_entry()[0] or {}).get("hyperdrive") or {}
    config = doc.get("primary_metric_config") or {}
    if not config.get("name"):
        raise ValueError(f"step {step_run.name!r} is not a HyperDriveStep (its spec has no primary metric)")
    return str(config["name"]), str(config.get("goal") or "MAXIMIZE")


def trial_records_of(step_run: Any) -> list[TrialRecord]:
    """The step run's children as ``TrialRecord``s (status, parameters, logged metrics)."""
    return [TrialRecord(run_id=child.id, parameters=child.get_parameters(), status=child.get_status(),
                        metrics={k: (v if isinstance(v, list) else [v]) for k, v in child.get_metrics().items()})
            for child in step_run.get_children()]


__all__ = ["HyperDriveStep", "HyperDriveStepRun"]
