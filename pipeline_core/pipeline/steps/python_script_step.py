"""``PythonScriptStep`` with AML v1's arguments."""

from __future__ import annotations

from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig
from pipeline_core.execution.step_settings import check_run_duration
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken, _claim


class PythonScriptStep(PipelineStep):
    """Runs ``python script_name arguments…`` with its working directory at a snapshot of ``source_directory``.

    ``compute_target`` is recorded on the run and otherwise ignored; of
    ``runconfig``, ``max_run_duration_seconds`` limits the step's run time (the
    rest is recorded); ``params`` become ``AML_PARAMETER_<name>`` environment
    variables, as in AML v1.
    """

    step_type = "PythonScriptStep"

    def __init__(self, script_name: str, name: str | None = None, arguments: list[Any] | None = None,
                 compute_target: Any = None, runconfig: Any = None,
                 runconfig_pipeline_params: dict[str, Any] | None = None,
                 inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 params: dict[str, Any] | None = None, source_directory: str | None = None,
                 allow_reuse: bool = True, version: str | None = None, hash_paths: list[str] | None = None):
        if not script_name or not isinstance(script_name, str):
            raise ValueError("PythonScriptStep needs script_name, the path of the script inside source_directory")
        super().__init__(name or script_name, inputs, outputs, arguments, allow_reuse)
        self.script_name = script_name
        self.source_directory = source_directory
        self.params = dict(params or {})
        self.version = version
        self.hash_paths = list(hash_paths or [])
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.runconfig_pipeline_params = dict(runconfig_pipeline_params or {})
        if compute_target is not None:
            warn_ignored("compute targets (ComputeTarget, AmlCompute, compute_target=)")
        self.max_run_duration_seconds = check_run_duration(
            getattr(runconfig, "max_run_duration_seconds", None),
            f"step {self.name!r}: runconfig.max_run_duration_seconds")
        if runconfig is not None:
            warn_ignored("runconfig (docker, target, node count)",
                         "Its max_run_duration_seconds is honoured (the step is stopped and fails after that long), "
                         "and its environment's pip/conda packages are installed for the step (a cached venv).")
        if hash_paths:
            warn_ignored("hash_paths", "The whole source_directory is always hashed for reuse.")
        # An OutputFileDatasetConfig passed straight in arguments is this step's output (AML v1 rule);
        # its .as_input() form is what a consumer passes.
        for arg in self._arguments:
            if isinstance(arg, OutputFileDatasetConfig) and arg not in self._outputs and arg not in self._inputs:
                self._outputs.append(arg)
                _claim(arg, self)

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        """The step's own run-time limit, when its runconfig sets one (else the app's limit applies), and the
        packages its runconfig's environment declares (installed in a cached venv for the step)."""
        from pipeline_core.core.environment import environment_entry

        fields: dict[str, Any] = {}
        if self.max_run_duration_seconds is not None:
            fields["max_run_duration_seconds"] = self.max_run_duration_seconds
        environment = environment_entry(getattr(self.runconfig, "environment", None))
        if environment is not None:
            fields["environment"] = environment
        return fields

    def recorded(self) -> dict[str, Any]:
        """What was accepted but has no effect, kept on the run so nothing is silently dropped."""
        target = self.compute_target
        return {
            "compute_target": getattr(target, "name", target) if target is not None else None,
            "runconfig": repr(self.runconfig) if self.runconfig is not None else None,
            "version": self.version,
            "hash_paths": self.hash_paths,
        }
