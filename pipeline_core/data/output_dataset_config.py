"""``OutputFileDatasetConfig``: a step output written to a folder and uploaded after the step (AML v1)."""

from __future__ import annotations

import re
import uuid
from typing import Any


class OutputFileDatasetConfig:
    """An output folder; ``destination=(datastore, path)`` chooses where it lands.

    The path may use AML's placeholders ``{run-id}`` and ``{output-name}``. With
    no destination it lands beside ``PipelineData`` outputs, under
    ``pipelinedata/{run}/{step}/{name}/``.
    """

    def __init__(self, name: str | None = None, destination: Any = None, source: str | None = None,
                 partition_format: str | None = None):
        self.name = name or f"output_{uuid.uuid4().hex[:8]}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(
                f"OutputFileDatasetConfig name {self.name!r} is invalid: use letters, digits and underscores, "
                "starting with a letter or underscore"
            )
        self.destination: tuple[str, str] | None = None
        if destination is not None:
            if not (isinstance(destination, tuple) and len(destination) == 2):
                raise ValueError(
                    f"OutputFileDatasetConfig {self.name!r}: destination must be a (datastore, path) tuple"
                )
            ds, path = destination
            self.destination = (ds if isinstance(ds, str) else ds.name, str(path).lstrip("/"))
        self.source = source
        self.partition_format = partition_format
        self.mode = "mount"
        self.registration: dict[str, Any] | None = None
        self._is_input = False

    # AML's fluent API: each returns a config usable where AML accepts one.
    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        self.mode = "mount"
        return self

    def as_upload(self, overwrite: bool = False, source_globs: Any = None) -> OutputFileDatasetConfig:
        self.mode = "upload"
        return self

    def as_input(self, name: str | None = None) -> OutputInput:
        return OutputInput(self, name)

    def register_on_complete(self, name: str, description: str | None = None,
                             tags: dict[str, str] | None = None) -> OutputFileDatasetConfig:
        """When the step that writes this output finishes, register it as a dataset version named ``name``."""
        from pipeline_core.data.abstract_dataset import DATASET_NAME_RE

        if not isinstance(name, str) or not DATASET_NAME_RE.match(name):
            raise ValueError(f"register_on_complete: dataset name {name!r} is invalid: use 1-250 letters, digits, "
                             "'_', '.' or '-', starting with a letter or digit")
        self.registration = {"name": name, "description": description, "tags": dict(tags or {}),
                             **({"tabular": self.registration["tabular"]}
                                if self.registration and self.registration.get("tabular") else {})}
        return self

    def read_delimited_files(self, include_path: bool = False, separator: str = ",", header: Any = True,
                             partition_format: str | None = None, path_glob: str | None = None,
                             set_column_types: Any = None) -> OutputInput:
        """The output as a tabular input: a script gets its folder; a ParallelRunStep reads it as a table."""
        from pipeline_core.data.tabular_dataset import delimited_format

        found = OutputInput(self, None)
        found.tabular = {"format": delimited_format(separator, header), "include_path": bool(include_path),
                         "partition_format": partition_format}
        return found

    def _registered_as(self, tabular: dict[str, Any]) -> None:
        self.registration = {**(self.registration or {}), "tabular": tabular}

    def read_parquet_files(self, include_path: bool = False, partition_format: str | None = None,
                           path_glob: str | None = None, set_column_types: Any = None) -> OutputInput:
        found = OutputInput(self, None)
        found.tabular = {"format": {"kind": "parquet"}, "include_path": bool(include_path),
                         "partition_format": partition_format}
        return found

    def __repr__(self) -> str:
        return f"OutputFileDatasetConfig(name={self.name!r}, destination={self.destination!r})"


class OutputInput:
    """An ``OutputFileDatasetConfig`` (or a ``PipelineData``) consumed by a later step: what ``as_input()`` returns,
    or ``read_*_files()`` / ``parse_*_files()`` for one read as a table."""

    def __init__(self, output: Any, name: str | None = None):
        self.output = output
        self.input_name = name or output.name
        self.tabular: dict[str, Any] | None = None  # set by read_delimited_files / read_parquet_files

    @property
    def name(self) -> str:
        return self.output.name

    def as_mount(self) -> OutputInput:
        return self

    def register_on_complete(self, name: str, description: str | None = None,
                             tags: dict[str, str] | None = None) -> OutputInput:
        """Register the output when its step finishes: as a TabularDataset when read as a table (AML)."""
        if isinstance(self.output, OutputFileDatasetConfig):
            self.output.register_on_complete(name, description, tags)
            if self.tabular is not None:
                self.output._registered_as(self.tabular)
        return self

    def as_download(self, path_on_compute: str | None = None) -> OutputInput:
        return self

    def __repr__(self) -> str:
        return f"{self.output!r}.as_input()"
