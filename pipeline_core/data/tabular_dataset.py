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


def part_for(definition: dict[str, Any], f: DatasetFile, local: Path) -> dict[str, Any]:
    """The reader's description of one whole file of a tabular dataset."""
    from pipeline_core.data.partition_format import date_keys, iso_datetime, partition_values

    fmt = dict(definition["format"], include_path=bool(definition.get("include_path")))
    part: dict[str, Any] = {"path": str(local), "format": fmt, "relative": f.relative}
    pformat = definition.get("partition_format")
    if pformat:
        values = partition_values(pformat, f.name) or {}
        dates = date_keys(pformat)
        part["columns"] = {k: iso_datetime(v, dates[k]) if k in dates else v for k, v in values.items()}
        part["date_columns"] = sorted(k for k in dates if k in values)
    return part


class TabularDataset(AbstractDataset):
    dataset_type = "tabular"

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        """All matched files as one DataFrame (in datastore/name order)."""
        from pipeline_core.core.datastore import Datastore
        from pipeline_core.data.readers import read_parts

        ws = self._resolve_workspace()
        files = self._files(ws)
        folder = Path(tempfile.mkdtemp(prefix="amlite-tabular-"))
        try:
            local = download_files(lambda name: Datastore.get(ws, name)._container, files, folder)
            return read_parts([part_for(self._definition, f, p) for f, p in zip(files, local)])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
