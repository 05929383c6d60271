"""Graph-level names of AML v1: ``PipelineParameter`` and ``PipelineData``."""

from __future__ import annotations

import re
from typing import Any

from pipeline_core.data.datapath import DataPath

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PARAMETER_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def parameter_type(default: Any) -> str:
    """The declared type of a parameter, from its default, as AML infers it."""
    if isinstance(default, DataPath):
        return "datapath"
    from pipeline_core.data.abstract_dataset import AbstractDataset

    if isinstance(default, AbstractDataset):  # AML: a dataset the caller may swap at submit time
        return "dataset"
    for py_type, name in PARAMETER_TYPES.items():  # bool before int: bool is an int subclass
        if type(default) is py_type:
            return name
    raise ValueError(
        f"PipelineParameter default {default!r} has type {type(default).__name__}; "
        "use a str, int, float, bool, DataPath or Dataset default"
    )


class PipelineParameter:
    """A named value set at submit time (``pipeline_parameters=`` or REST ``ParameterAssignments``)."""

    def __init__(self, name: str, default_value: Any):
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(
                f"PipelineParameter name {name!r} is invalid: use letters, digits and underscores, "
                "starting with a letter or underscore"
            )
        self.name = name
        self.default_value = default_value
        self.type = parameter_type(default_value)

    def __str__(self) -> str:
        return f"$AML_PARAMETER_{self.name}"

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"


class PipelineData:
    """Intermediate data: a folder one step writes and later steps read.

    Without a ``datastore`` it lands in the ``pipelinedata`` datastore under
    ``{run}/{step}/{name}/``. ``pipeline_output_name`` and ``is_directory`` are
    recorded; outputs are always folders here (a single file is a folder with one file).
    """

    def __init__(self, name: str, datastore: Any = None, output_name: str | None = None,
                 output_mode: str = "mount", output_path_on_compute: str | None = None,
                 output_overwrite: bool | None = None, data_type: str | None = None,
                 is_directory: bool | None = None, pipeline_output_name: str | None = None,
                 training_output: Any = None):
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(
                f"PipelineData name {name!r} is invalid: use letters, digits and underscores, "
                "starting with a letter or underscore"
            )
        self.name = name
        self.datastore_name: str | None = None if datastore is None else (
            datastore if isinstance(datastore, str) else datastore.name)
        self.output_name = output_name or name
        self.output_mode = output_mode
        self.pipeline_output_name = pipeline_output_name
        self.training_output = training_output  # a TrainingOutput, read by AutoMLStep / HyperDriveStep
        self.is_directory = is_directory

    def as_input(self, input_name: str | None = None) -> PipelineData:
        return self

    def as_dataset(self) -> PipelineData:
        """AML's ``PipelineOutputFileDataset``: the same output, which a later step may read as a table."""
        return self

    def parse_parquet_files(self, file_extension: str | None = ".parquet", partition_format: str | None = None,
                            include_path: bool = False) -> Any:
        """This output read by a later step as a ``TabularDataset`` (``Run.input_datasets[name]``) of its parquet files."""
        from pipeline_core.data.output_dataset_config import OutputInput

        found = OutputInput(self, None)
        found.tabular = {"format": {"kind": "parquet"}, "include_path": bool(include_path),
                         "partition_format": partition_format}
        return found

    def parse_delimited_files(self, file_extension: str | None = ".csv", separator: str = ",", header: Any = True,
                              partition_format: str | None = None, include_path: bool = False) -> Any:
        """This output read by a later step as a ``TabularDataset`` of its delimited files."""
        from pipeline_core.data.output_dataset_config import OutputInput
        from pipeline_core.data.tabular_dataset import delimited_format

        found = OutputInput(self, None)
        found.tabular = {"format": delimited_format(separator, header), "include_path": bool(include_path),
                         "partition_format": partition_format}
        return found

    def as_mount(self) -> PipelineData:
        return self

    def as_download(self, input_name: str | None = None, path_on_compute: str | None = None,
                    overwrite: bool | None = None) -> PipelineData:
        return self

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"

    def __repr__(self) -> str:
        return f"PipelineData(name={self.name!r})"
