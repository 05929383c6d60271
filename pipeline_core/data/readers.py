"""Reading tabular files (or a slice of one) into a pandas DataFrame.

Deliberately free of other ``pipeline_core`` imports: the ParallelRunStep
worker process loads this file by path, so a mini-batch is read where it is
processed without paying for the SDK's import (and the DataFrame never crosses
a pipe). ``to_pandas_dataframe`` uses the same code, so both read alike.

A *part* is a dict: ``path`` (local file), ``format`` (the dataset's format),
optional ``start``/``end`` (a CSV byte range: the rows that *start* inside it)
or ``row_groups`` (parquet), ``columns`` (partition values to add),
``date_columns`` (which of those are datetimes) and ``relative`` (for
``include_path``).
"""

from __future__ import annotations

import io
from typing import Any


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("tabular datasets need pandas: pip install pandas (and pyarrow for parquet)") from None
    return pandas


def row_bounds(handle: Any, start: int, end: int, size: int) -> tuple[int, int]:
    """Byte offsets [s, e) of the rows whose first byte lies in [start, end).

    Adjacent ranges give adjacent bounds, so splitting a file at any byte
    offsets yields every row exactly once (the Hadoop line-split rule).
    """

    def next_row(offset: int) -> int:
        if offset <= 0:
            return 0
        if offset >= size:
            return size
        handle.seek(offset - 1)
        handle.readline()
        return int(handle.tell())

    return next_row(start), next_row(end)


def _header_names(header_line: bytes, fmt: dict[str, Any]) -> list[str]:
    pandas = _pandas()
    frame = pandas.read_csv(io.BytesIO(header_line), sep=fmt.get("separator", ","), nrows=0,
                            encoding=_encoding(fmt))
    return [str(c) for c in frame.columns]


def _encoding(fmt: dict[str, Any]) -> str:
    return str(fmt.get("encoding") or "utf8").replace("utf8", "utf-8")


def _read_csv_bytes(data: bytes, fmt: dict[str, Any], names: list[str] | None) -> Any:
    pandas = _pandas()
    kwargs: dict[str, Any] = {"sep": fmt.get("separator", ","), "encoding": _encoding(fmt)}
    if not fmt.get("infer_column_types", True):
        kwargs["dtype"] = str
    if fmt.get("empty_as_string"):
        kwargs["keep_default_na"] = False
    if names is not None:
        kwargs.update(header=None, names=names)
    elif fmt.get("header", True):
        kwargs["header"] = 0
    else:
        kwargs["header"] = None
    if not data.strip():
        return pandas.DataFrame(columns=names or [])
    frame = pandas.read_csv(io.BytesIO(data), **kwargs)
    if names is None and not fmt.get("header", True):
        frame.columns = [f"Column{i + 1}" for i in range(len(frame.columns))]
    return frame


def read_csv_part(part: dict[str, Any]) -> Any:
    fmt = part["format"]
    with open(part["path"], "rb") as handle:
        handle.seek(0, io.SEEK_END)
        size = handle.tell()
        handle.seek(0)
        header = handle.readline() if fmt.get("header", True) else b""
        first_row = len(header)
        start, end = part.get("start"), part.get("end")
        if start is None or end is None:
            handle.seek(0)
            return _read_csv_bytes(handle.read(), fmt, None)
        s, e = row_bounds(handle, int(start), int(end), size)
        s = max(s, first_row)
        names = _header_names(header, fmt) if header else None
        if e <= s:
            return _read_csv_bytes(b"", fmt, names or [])
        handle.seek(s)
        data = handle.read(e - s)
    return _read_csv_bytes(data, fmt, names)


def read_parquet_part(part: dict[str, Any]) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("parquet datasets need pyarrow: pip install pyarrow") from None
    groups = part.get("row_groups")
    parquet = pq.ParquetFile(part["path"])
    table = parquet.read_row_groups(groups) if groups is not None else parquet.read()
    return table.to_pandas()


def read_part(part: dict[str, Any]) -> Any:
    """One part as a DataFrame, with its partition columns and (``include_path``) its ``Path`` column."""
    pandas = _pandas()
    kind = part["format"]["kind"]
    frame = read_parquet_part(part) if kind == "parquet" else read_csv_part(part)
    dates = set(part.get("date_columns") or [])
    for name, value in (part.get("columns") or {}).items():
        frame[name] = pandas.Timestamp(value) if name in dates else value
    if part["format"].get("include_path"):
        frame.insert(0, "Path", "/" + str(part.get("relative", "")).lstrip("/"))
    return frame


def read_parts(parts: list[dict[str, Any]]) -> Any:
    pandas = _pandas()
    frames = [read_part(p) for p in parts]
    if not frames:
        return pandas.DataFrame()
    if len(frames) == 1:
        return frames[0]
    return pandas.concat(frames, ignore_index=True)
