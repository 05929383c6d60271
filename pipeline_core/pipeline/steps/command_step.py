"""``CommandStep`` with AML v1's arguments: a command run in the step's snapshot of ``source_directory``.

``command`` as a list is an argv: no shell, each item one argument, and items may be
PipelineParameters and data objects (PipelineData, OutputFileDatasetConfig,
DataReference, DataPath), which become their value or local folder, as
PythonScriptStep's ``arguments`` do. ``command`` as a string is what AML runs it as:
one shell command line (``bash -c``, ``/bin/sh -c`` where bash is missing), so pipes,
``&&`` and ``$VARIABLES`` work; parameters and data reach it as the environment
variables AML sets (``$AML_PARAMETER_<name>``, ``$AZUREML_DATAREFERENCE_<name>``),
expanded by the shell -- never pasted into the command text, so a parameter's value
cannot inject shell syntax.
"""

from __future__ import annotations

from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig
from pipeline_core.execution.step_settings import check_run_duration
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken, _claim


class CommandStep(PipelineStep):
    """Runs ``command`` with its working directory at a snapshot of ``source_directory`` (see the module doc).

    ``runconfig`` (a ``ScriptRunConfig``/``RunConfiguration``): when ``command`` is not given its ``command`` is
    used as ScriptRunConfig means it (a list of strings is joined into one shell command line, as AML
    does) and its ``source_directory`` is the step's when the step names none; its
    ``max_run_duration_seconds`` limits the step and its environment's packages are installed
    (a cached venv whose ``python`` comes first on ``PATH``); ``compute_target`` is recorded.
    """

    step_type = "CommandStep"
    #: The spec builder snapshots source_directory (the command's working directory) without a script_name.
    snapshot_source = True

    def __init__(self, command: str | list[Any] | None = None, name: str | None = None, compute_target: Any = None,
                 runconfig: Any = None, runconfig_pipeline_params: dict[str, Any] | None = None,
                 inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 params: dict[str, Any] | None = None, source_directory: str | None = None,
                 allow_reuse: bool = True, version: str | None = None):
        if command is None:  # AML: the runconfig's (ScriptRunConfig's) command, with ScriptRunConfig's meaning
            command = getattr(runconfig, "command", None) or None
            if isinstance(command, (list, tuple)) and all(isinstance(part, str) for part in command):
                command = " ".join(command)  # ScriptRunConfig joins a list into one command line for the shell
        if source_directory is None:
            source_directory = getattr(runconfig, "source_directory", None)
        if isinstance(command, tuple):
            command = list(command)
        if not command or not isinstance(command, (str, list)):
            raise ValueError("CommandStep needs command: a string (run by a shell) or a list (an argv, no shell), "
                             "or a runconfig whose command is set")
        if isinstance(command, str) and not command.strip():
            raise ValueError("CommandStep command is an empty string; give the command line to run")
        argv = list(command) if isinstance(command, list) else []
        super().__init__(name or _default_name(command), inputs, outputs, argv, allow_reuse)
        self.command = command
        self.source_directory = source_directory
        self.params = dict(params or {})
        self.version = version
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.runconfig_pipeline_params = dict(runconfig_pipeline_params or {})
        if compute_target is not None:
            warn_ignored("compute targets (ComputeTarget, AmlCompute, compute_target=)")
        self.max_run_duration_seconds = check_run_duration(
            getattr(_run_configuration(runconfig), "max_run_duration_seconds", None),
            f"step {self.name!r}: runconfig.max_run_duration_seconds")
        if runconfig is not None:
            warn_ignored("runconfig (docker, target, node count)",
                         "Its max_run_duration_seconds is honoured (the step is stopped and fails after that long), "
                         "and its environment's pip/conda packages are installed for the step (a cached venv).")
        for arg in self._arguments:  # an OutputFileDatasetConfig in the argv is this step's output (AML rule)
            if isinstance(arg, OutputFileDatasetConfig) and arg not in self._outputs and arg not in self._inputs:
                self._outputs.append(arg)
                _claim(arg, self)

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        from pipeline_core.core.environment import environment_entry

        fields: dict[str, Any] = {"command": ({"shell": token(self.command, "command")} if isinstance(self.command, str)
                                              else {"argv": True})}
        if self.max_run_duration_seconds is not None:
            fields["max_run_duration_seconds"] = self.max_run_duration_seconds
        environment = environment_entry(getattr(_run_configuration(self.runconfig), "environment", None))
        if environment is not None:
            fields["environment"] = environment
        return fields

    def recorded(self) -> dict[str, Any]:
        target = self.compute_target
        return {"compute_target": getattr(target, "name", target) if target is not None else None,
                "runconfig": repr(self.runconfig) if self.runconfig is not None else None, "version": self.version}


def _run_configuration(runconfig: Any) -> Any:
    """The RunConfiguration of a ScriptRunConfig (its limits and environment live there), or ``runconfig``."""
    return getattr(runconfig, "run_config", None) or runconfig


def _default_name(command: str | list[Any]) -> str:
    first = command.split()[0] if isinstance(command, str) else str(command[0])
    return first.rsplit("/", 1)[-1][:60] or "command"


__all__ = ["CommandStep"]
