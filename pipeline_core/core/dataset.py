"""``Dataset``: AML v1's entry point for file and tabular datasets and their registry.

``Dataset.File.from_files`` / ``Dataset.Tabular.from_delimited_files`` /
``from_parquet_files`` build a definition; ``register`` stores versions in the
``datasets`` table; ``Dataset.get_by_name`` reads one back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.data.abstract_dataset import AbstractDataset, get_by_name, workspace_of
from pipeline_core.data.dataset_paths import normalize_paths
from pipeline_core.data.file_dataset import FileDataset
from pipeline_core.data.tabular_dataset import TabularDataset, delimited_format

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace


def _check_partition_format(partition_format: str | None) -> None:
    if partition_format is not None:
        from pipeline_core.data.partition_format import compile_format

        compile_format(partition_format)


class _FileFactory:
    @staticmethod
    def from_files(path: Any, validate: bool = True, partition_format: str | None = None,
                   is_file: bool = False) -> FileDataset:
        """Files matched by ``path``: ``(datastore, 'folder/**')``, a DataPath, or a list of them."""
        _check_partition_format(partition_format)
        definition = {"type": "file", "paths": normalize_paths(path), "partition_format": partition_format}
        dataset = FileDataset(definition, workspace_of(path))
        if validate and dataset._workspace is not None:
            dataset._validate()
        return dataset


class _TabularFactory:
    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True, set_column_types: Any = None,
                             separator: str = ",", header: Any = True, partition_format: str | None = None,
                             support_multi_line: bool = False, empty_as_string: bool = False,
                             encoding: str = "utf8") -> TabularDataset:
        """CSV/TSV files as one table. ``support_multi_line`` keeps each file whole in ParallelRunStep batches."""
        if set_column_types is not None:
            warn_ignored("TabularDataset set_column_types", "Column types are inferred by pandas.")
        _check_partition_format(partition_format)
        fmt = delimited_format(separator, header, infer_column_types, empty_as_string, support_multi_line, encoding)
        return _tabular(path, fmt, include_path, partition_format, validate)

    @staticmethod
    def from_parquet_files(path: Any, validate: bool = True, include_path: bool = False,
                           set_column_types: Any = None, partition_format: str | None = None) -> TabularDataset:
        if set_column_types is not None:
            warn_ignored("TabularDataset set_column_types", "Column types come from the parquet schema.")
        _check_partition_format(partition_format)
        return _tabular(path, {"kind": "parquet"}, include_path, partition_format, validate)


def _tabular(path: Any, fmt: dict[str, Any], include_path: bool, partition_format: str | None,
             validate: bool) -> TabularDataset:
    definition = {"type": "tabular", "paths": normalize_paths(path), "format": fmt,
                  "include_path": bool(include_path), "partition_format": partition_format}
    dataset = TabularDataset(definition, workspace_of(path))
    if validate and dataset._workspace is not None:
        dataset._validate()
    return dataset


class Dataset:
    """AML v1 ``azureml.core.Dataset``: ``Dataset.File``, ``Dataset.Tabular`` and the registry look-ups."""

    File = _FileFactory
    Tabular = _TabularFactory

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: str | int = "latest") -> AbstractDataset:
        return get_by_name(workspace, name, version)

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, AbstractDataset]:
        """The latest version of every registered dataset, by name."""
        from pipeline_core.storage.dataset_store import DatasetStore

        return {name: get_by_name(workspace, name) for name in DatasetStore(workspace.account).names()}


__all__ = ["Dataset", "FileDataset", "TabularDataset"]
