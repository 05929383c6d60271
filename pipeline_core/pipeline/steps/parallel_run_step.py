"""``ParallelRunConfig`` and ``ParallelRunStep`` with AML v1's arguments and rules (batch inference).

The step splits its inputs into mini-batches and calls the entry script's
``run(mini_batch)`` in long-lived worker processes, each of which ran
``init()`` once. Values AML lets you bind to a ``PipelineParameter`` are kept
as parameter references in the spec and resolved when the run starts.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.data.abstract_dataset import AbstractDataset
from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath
from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig, OutputInput
from pipeline_core.parallel.config import (
    PARAMETERIZABLE,
    ConfigError,
    check_combination,
    check_value,
    parse_file_count,
)
from pipeline_core.pipeline.core.graph import PipelineData, PipelineParameter
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken

STEP_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_INPUT_TYPES = (AbstractDataset, DatasetConsumptionConfig, PipelineData, OutputFileDatasetConfig, OutputInput,
                DataReference, DataPath)


class ParallelRunConfig:
    """How a ParallelRunStep runs (AML v1 signature); every value is checked here, parameters by their default."""

    def __init__(self, environment: Any, entry_script: str, error_threshold: Any, output_action: str,
                 compute_target: Any, node_count: Any, process_count_per_node: Any = None,
                 mini_batch_size: Any = None, source_directory: str | None = None, description: str | None = None,
                 logging_level: Any = "INFO", run_invocation_timeout: Any = 60, run_max_try: Any = 3,
                 append_row_file_name: str | None = None, allowed_failed_count: Any = None,
                 allowed_failed_percent: Any = None, partition_keys: Any = None,
                 environment_variables: dict[str, str] | None = None):
        if not isinstance(entry_script, str) or not entry_script.strip():
            raise ValueError("ParallelRunConfig needs entry_script, the path of the script (with init() and run()) "
                             "inside source_directory")
        if error_threshold is None:
            raise ValueError("ParallelRunConfig needs error_threshold: the number of failed items (files or rows) "
                             "to tolerate, or -1 to ignore all item failures")
        self.environment = environment
        self.entry_script = entry_script
        self.error_threshold = error_threshold
        self.output_action = output_action
        self.compute_target = compute_target
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.mini_batch_size = mini_batch_size
        self.source_directory = source_directory
        self.description = description
        self.logging_level = logging_level
        self.run_invocation_timeout = run_invocation_timeout
        self.run_max_try = run_max_try
        self.append_row_file_name = append_row_file_name
        self.allowed_failed_count = allowed_failed_count
        self.allowed_failed_percent = allowed_failed_percent
        self.partition_keys = partition_keys
        self.environment_variables = dict(environment_variables or {})
        self._validate()
        if compute_target is not None:
            warn_ignored("compute_target")

    def _validate(self) -> None:
        problems: list[str] = []
        checked: dict[str, Any] = {}
        for name in (*PARAMETERIZABLE, "output_action"):
            value = getattr(self, name)
            if isinstance(value, PipelineParameter):
                if name not in PARAMETERIZABLE:
                    problems.append(f"{name} cannot be a PipelineParameter")
                    continue
                value = value.default_value
            try:
                checked[name] = check_value(name, value)
            except ConfigError as exc:
                problems.append(str(exc) + (f" (the default of PipelineParameter {getattr(self, name).name!r})"
                                            if isinstance(getattr(self, name), PipelineParameter) else ""))
        try:
            check_combination(checked)
        except ConfigError as exc:
            problems.append(str(exc))
        file_name = self.append_row_file_name
        if file_name is not None and (not isinstance(file_name, str) or not file_name.strip()
                                      or "/" in file_name or "\\" in file_name):
            problems.append(f"append_row_file_name must be a file name (no folders), got {file_name!r}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.environment_variables.items()):
            problems.append("environment_variables must map str names to str values")
        if problems:
            raise ValueError("ParallelRunConfig is invalid:\n" + "\n".join(f"  - {p}" for p in problems))

    def spec_config(self, token: SpecToken) -> dict[str, Any]:
        """Literal values, plus parameter names for the values bound to PipelineParameters."""
        values: dict[str, Any] = {}
        parameters: dict[str, str] = {}
        for name in (*PARAMETERIZABLE, "output_action", "append_row_file_name", "environment_variables"):
            value = getattr(self, name)
            if isinstance(value, PipelineParameter):
                tok = token(value, f"parallel_run_config.{name}")
                if tok and "param" in tok:
                    parameters[name] = tok["param"]
            else:
                values[name] = value
        values["output_action"] = str(self.output_action).lower()
        return {"values": values, "parameters": parameters}

    def __repr__(self) -> str:
        return f"ParallelRunConfig(entry_script={self.entry_script!r}, output_action={self.output_action!r})"


def _input_type(value: Any) -> str:
    if isinstance(value, DatasetConsumptionConfig):
        return value.dataset.dataset_type
    if isinstance(value, AbstractDataset):
        return value.dataset_type
    if isinstance(value, OutputInput) and value.tabular is not None:
        return "tabular"
    return "file"


class ParallelRunStep(PipelineStep):
    """Runs ``entry_script``'s ``run()`` over mini-batches of ``inputs`` in parallel worker processes."""

    step_type = "ParallelRunStep"

    def __init__(self, name: str, parallel_run_config: ParallelRunConfig, inputs: list[Any],
                 output: Any = None, side_inputs: list[Any] | None = None, arguments: list[Any] | None = None,
                 allow_reuse: bool = True):
        if not isinstance(name, str) or not 3 <= len(name) <= 32 or not STEP_NAME_RE.match(name):
            raise ValueError(
                f"ParallelRunStep name {name!r} is invalid: use 3-32 characters, lowercase letters, digits and "
                "'-', starting with a letter and ending with a letter or digit (e.g. 'batch-score')")
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise ValueError(f"ParallelRunStep {name!r}: parallel_run_config must be a ParallelRunConfig, "
                             f"not {type(parallel_run_config).__name__}")
        listed = inputs if isinstance(inputs, list) else [inputs]
        if not listed:
            raise ValueError(f"ParallelRunStep {name!r} needs at least one input (a FileDataset or TabularDataset, "
                             "e.g. dataset.as_named_input('images'))")
        for value in [*listed, *(side_inputs or [])]:
            if not isinstance(value, _INPUT_TYPES):
                raise ValueError(f"ParallelRunStep {name!r}: input {value!r} is not a dataset, PipelineData, "
                                 "OutputFileDatasetConfig or DataReference")
        types = {_input_type(v) for v in listed}
        if len(types) > 1:
            raise ValueError(f"ParallelRunStep {name!r}: inputs mix file and tabular data; use one kind per step")
        if output is not None and not isinstance(output, (PipelineData, OutputFileDatasetConfig)):
            raise ValueError(f"ParallelRunStep {name!r}: output must be a PipelineData or OutputFileDatasetConfig, "
                             f"not {type(output).__name__}")
        self.input_type = types.pop()
        size = parallel_run_config.mini_batch_size
        if self.input_type == "file" and size is not None:
            try:
                parse_file_count(size.default_value if isinstance(size, PipelineParameter) else size)
            except ConfigError as exc:
                raise ValueError(f"ParallelRunStep {name!r}: {exc}") from None
        super().__init__(name, [*listed, *(side_inputs or [])], [output] if output is not None else [],
                         arguments, allow_reuse)
        self.parallel_run_config = parallel_run_config
        self.parallel_inputs = list(listed)
        self.side_inputs = list(side_inputs or [])
        self.output = output
        self.script_name = parallel_run_config.entry_script
        self.source_directory = parallel_run_config.source_directory

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        """What the spec builder adds to this step's document: the config and which inputs are batched."""
        batched: list[dict[str, Any]] = []
        for index, value in enumerate(self.parallel_inputs):
            tok = token(value, f"inputs[{index}]") or {}
            entry: dict[str, Any] = {"data": tok.get("data"), "type": _input_type(value)}
            if isinstance(value, OutputInput) and value.tabular is not None:
                entry["tabular"] = value.tabular
            batched.append(entry)
        sides = [(token(v, f"side_inputs[{i}]") or {}).get("data") for i, v in enumerate(self.side_inputs)]
        fields = {"parallel_run_config": self.parallel_run_config.spec_config(token), "parallel_inputs": batched,
                  "side_inputs": sides, "input_type": self.input_type}
        from pipeline_core.core.environment import environment_entry

        environment = environment_entry(self.parallel_run_config.environment)
        if environment is not None:  # the workers run on a venv of the declared packages
            fields["environment"] = environment
        return fields

    def recorded(self) -> dict[str, Any]:
        config = self.parallel_run_config
        target = config.compute_target
        return {"compute_target": getattr(target, "name", target) if target is not None else None,
                "environment": getattr(config.environment, "name", None), "description": config.description}
