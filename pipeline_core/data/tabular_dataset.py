"""``TabularDataset``: delimited or parquet files read as one table (AML v1).

``to_pandas_dataframe`` downloads the matched files and reads them with the
same reader ParallelRunStep workers use, adding ``partition_format`` columns
(datetimes for ``{key:yyyy/MM/dd}``) and, with ``include_path``, a ``Path``
column.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline_core.data.abstract_dataset import AbstractDataset
from pipeline_core.data.dataset_paths import DatasetFile, download_files
from pipeline_core.data.expressions import Field, as_filter
from pipeline_core.errors import AmliteError


def header_flag(header: Any) -> bool:
    """AML takes a bool or a PromoteHeadersBehavior; only NO_HEADERS (0) means "no header line"."""
    if isinstance(header, bool):
        return header
    try:
        return int(header) != 0
    except (TypeError, ValueError):
        raise ValueError(f"header must be True/False or a PromoteHeadersBehavior, not {header!r}") from None


def delimited_format(separator: str = ",", header: Any = True, infer_column_types: bool = True,
                     empty_as_string: bool = False, support_multi_line: bool = False,
                     encoding: str = "utf8") -> dict[str, Any]:
    """The ``format`` of delimited files, shared by datasets and ``OutputFileDatasetConfig.read_delimited_files``."""
    if not isinstance(separator, str) or not separator:
        raise ValueError(f"separator must be a non-empty string, not {separator!r}")
    return {"kind": "delimited", "separator": separator, "header": header_flag(header),
            "infer_column_types": bool(infer_column_types), "empty_as_string": bool(empty_as_string),
            "support_multi_line": bool(support_multi_line), "encoding": encoding}


def check_sliceable(definition: dict[str, Any], input_name: str | None = None) -> None:
    """Refuse, naming them, transformations that pick rows of the whole table when it is read in slices."""
    from pipeline_core.data.readers import ROW_LOCAL

    whole_table = sorted({t["op"] for t in definition.get("transforms") or [] if t["op"] not in ROW_LOCAL})
    if whole_table:
        label = f"input {input_name!r}" if input_name else "this tabular dataset"
        raise AmliteError(
            f"{label} uses {', '.join(whole_table)}, which pick rows of the whole table, but it is "
            "read in slices here (ParallelRunStep mini-batches); write the selected rows out first "
            "(ds.to_pandas_dataframe() then upload, or ds.partition_by(...)) and read that dataset instead")


def part_for(definition: dict[str, Any], f: DatasetFile, local: Path) -> dict[str, Any]:
    """The reader's description of one whole file of a tabular dataset, read on its own (a mini-batch).

    Row-local transformations (columns kept or dropped, filters) travel with the part; ones that pick
    rows of the whole table (take, skip, samples) cannot be applied slice by slice, so they are refused.
    """
    from pipeline_core.data.partition_format import date_keys, iso_datetime, partition_values
    fmt = dict(definition["format"], include_path=bool(definition.get("include_path")))
    part: dict[str, Any] = {"path": str(local), "format": fmt, "relative": f.relative}
    transforms = definition.get("transforms") or []
    if transforms:
        check_sliceable(definition)
        part["transforms"] = transforms
    pformat = definition.get("partition_format")
    if pformat:
        values = partition_values(pformat, f.name) or {}
        dates = date_keys(pformat)
        part["columns"] = {k: iso_datetime(v, dates[k]) if k in dates else v for k, v in values.items()}
        part["date_columns"] = sorted(k for k in dates if k in values)
    return part


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AmliteError(f"TabularDataset.{name} takes a row count >= 0, not {value!r}")
    return value


def _columns(name: str, columns: Any) -> list[str]:
    listed = [columns] if isinstance(columns, str) else list(columns or [])
    if not listed or not all(isinstance(c, str) and c for c in listed):
        raise AmliteError(f"TabularDataset.{name} takes a column name or a list of them, not {columns!r}")
    return listed


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise AmliteError(f"TabularDataset.{name} takes a fraction between 0 and 1, not {value!r}")
    return float(value)


class TabularDataset(AbstractDataset):
    """Each transformation returns a new, unregistered dataset whose definition records it (AML's lazy
    dataflow), so a step or a worker that reads the dataset later reads the same rows and columns."""

    dataset_type = "tabular"

    def _with(self, transform: dict[str, Any]) -> TabularDataset:
        definition = self.definition
        definition["transforms"] = [*(definition.get("transforms") or []), transform]
        return TabularDataset(definition, self._workspace)

    def __getitem__(self, column: str) -> Field:
        """``ds['age']``: a column to build a ``filter`` condition from."""
        return Field(column)

    def take(self, count: int) -> TabularDataset:
        return self._with({"op": "take", "count": _count("take", count)})

    def skip(self, count: int) -> TabularDataset:
        return self._with({"op": "skip", "count": _count("skip", count)})

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        return self._with({"op": "keep_columns", "columns": _columns("keep_columns", columns), "validate": validate})

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        return self._with({"op": "drop_columns", "columns": _columns("drop_columns", columns)})

    def filter(self, expression: Any) -> TabularDataset:
        return self._with({"op": "filter", "expression": as_filter(expression)})

    def take_sample(self, probability: float, seed: int | None = None) -> TabularDataset:
        return self._with({"op": "take_sample", "probability": _probability("take_sample", probability),
                           "seed": seed})

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[TabularDataset, TabularDataset]:
        """Two datasets with about ``percentage`` and the rest of the rows; together exactly all rows, once.

        Without a seed one is drawn now, so both halves (and every later read of them) agree.
        """
        fraction = _probability("random_split", percentage)
        if seed is None:
            import secrets

            seed = secrets.randbelow(2**31)
        split = {"op": "random_split", "probability": fraction, "seed": seed}
        return self._with(split), self._with({**split, "complement": True})

    def partition_by(self, partition_keys: list[str], target: Any, name: str | None = None,
                     show_progress: bool = True, partition_as_file_dataset: bool = False) -> Any:
        """Write the rows as parquet files, one folder per distinct key value, under ``target``.

        Returns the partitioned dataset (a ``FileDataset`` with ``partition_as_file_dataset``), registered
        under ``name`` when given, with ``partition_format`` ``/{key1}/{key2}/*.parquet`` so a
        ParallelRunStep with ``partition_keys`` gives one mini-batch per partition. Key values become
        folder names, so each is checked to be a safe single path segment first.
        """
        from pipeline_core.data.dataset_paths import normalize_paths

        keys = _columns("partition_by", partition_keys)
        where = normalize_paths(target)[0]
        ws = self._resolve_workspace()
        frame = self.to_pandas_dataframe()
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise AmliteError(f"partition_by: the dataset has no column(s) {missing} (columns: {list(frame.columns)})")
        base = where["path"].strip("/")
        from pipeline_core.core.datastore import Datastore
        from pipeline_core.safe_paths import UnsafePathError, plain_name_problem

        container = Datastore.get(ws, where["datastore"])._container
        for index, (values, group) in enumerate(frame.groupby(keys, sort=True, dropna=False)):
            values = values if isinstance(values, tuple) else (values,)
            folders = [str(v) for v in values]
            for key, folder in zip(keys, folders):
                problem = plain_name_problem(folder)
                if problem:
                    raise UnsafePathError(f"partition_by: the value {folder!r} of column {key!r} {problem}; it would "
                                          "become a folder name, so clean the column first (e.g. ds.filter)")
            body = group.drop(columns=keys).reset_index(drop=True).to_parquet(index=False)
            container.upload_blob("/".join([base, *folders, f"part-{index:05d}.parquet"]).lstrip("/"), body,
                                  overwrite=True)
        pformat = "/" + "/".join("{" + k + "}" for k in keys) + "/*.parquet"
        path = (where["datastore"], f"{base}/**" if base else "**")
        from pipeline_core.core.dataset import Dataset

        result: Any = (Dataset.File.from_files(path, partition_format=pformat, validate=False)
                       if partition_as_file_dataset else
                       Dataset.Tabular.from_parquet_files(path, partition_format=pformat, validate=False))
        result._workspace = ws
        return result.register(ws, name, create_new_version=True) if name else result

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        """All matched files as one DataFrame (in datastore/name order)."""
        from pipeline_core.core.datastore import Datastore
        from pipeline_core.data.readers import apply_transforms, read_parts

        ws = self._resolve_workspace()
        files = self._files(ws)
        folder = Path(tempfile.mkdtemp(prefix="amlite-tabular-"))
        try:
            local = download_files(lambda name: Datastore.get(ws, name)._container, files, folder)
            whole = {k: v for k, v in self._definition.items() if k != "transforms"}
            frame = read_parts([part_for(whole, f, p) for f, p in zip(files, local)])
            return apply_transforms(frame, self._definition.get("transforms") or [])
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class StepInputTabularDataset(TabularDataset):
    """A tabular input as a step sees it (``Run.get_context().input_datasets[name]``): AML hands the step the
    dataset itself; here its files are already downloaded for the step, and the step has no storage
    credentials, so it reads those local copies with the dataset's format and transformations."""

    def __init__(self, definition: dict[str, Any], folder: str):
        super().__init__(definition, None)
        self._folder = Path(folder)

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        from pipeline_core.data.readers import apply_transforms, read_parts

        files = sorted(p for p in self._folder.rglob("*") if p.is_file()) if self._folder.is_dir() else [self._folder]
        whole = {k: v for k, v in self._definition.items() if k != "transforms"}
        parts = []
        for local in files:
            relative = local.relative_to(self._folder).as_posix() if self._folder.is_dir() else local.name
            parts.append(part_for(whole, DatasetFile("", relative, "", 0, relative), local))
        return apply_transforms(read_parts(parts), self._definition.get("transforms") or [])

    def _files(self, workspace: Any = None) -> list[DatasetFile]:
        raise AmliteError("inside a step a tabular input is read with to_pandas_dataframe(); it has no "
                          "datastore access of its own")
