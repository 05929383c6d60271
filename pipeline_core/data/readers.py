"""Reading tabular files (or a slice of one) into a pandas DataFrame.

Deliberately free of other ``pipeline_core`` imports: the ParallelRunStep
worker process loads this file by path, so a mini-batch is read where it is
processed without paying for the SDK's import (and the DataFrame never crosses
a pipe). ``to_pandas_dataframe`` uses the same code, so both read alike.

A *part* is a dict: ``path`` (a local file: a whole delimited file, or the
header plus the rows of one slice of it), ``format`` (the dataset's format),
optional ``row_groups`` (parquet), ``columns`` (partition values to add),
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


def _encoding(fmt: dict[str, Any]) -> str:
    return str(fmt.get("encoding") or "utf8").replace("utf8", "utf-8")


def read_csv_part(part: dict[str, Any]) -> Any:
    """A delimited file as a DataFrame; without a header line its columns are Column1, Column2... as in AML."""
    pandas = _pandas()
    fmt = part["format"]
    kwargs: dict[str, Any] = {"sep": fmt.get("separator", ","), "encoding": _encoding(fmt),
                              "header": 0 if fmt.get("header", True) else None}
    if not fmt.get("infer_column_types", True):
        kwargs["dtype"] = str
    if fmt.get("empty_as_string"):
        kwargs["keep_default_na"] = False
    with open(part["path"], "rb") as handle:
        data = handle.read()
    if not data.strip():
        return pandas.DataFrame()
    frame = pandas.read_csv(io.BytesIO(data), **kwargs)
    if not fmt.get("header", True):
        frame.columns = [f"Column{i + 1}" for i in range(len(frame.columns))]
    return frame


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
    return apply_transforms(frame, part["transforms"]) if part.get("transforms") else frame


def read_parts(parts: list[dict[str, Any]]) -> Any:
    pandas = _pandas()
    frames = [read_part(p) for p in parts]
    if not frames:
        return pandas.DataFrame()
    if len(frames) == 1:
        return frames[0]
    return pandas.concat(frames, ignore_index=True)


# -- transformations (TabularDataset.take/skip/keep_columns/drop_columns/filter/random_split/take_sample) --
def _evaluate(frame: Any, node: dict[str, Any]) -> Any:
    if "column" in node:
        if node["column"] not in frame.columns:
            raise KeyError(f"the dataset has no column {node['column']!r} (columns: {list(frame.columns)})")
        return frame[node["column"]]
    if "value" in node:
        return node["value"]
    op, args = node["op"], [_evaluate(frame, a) for a in node["args"]]
    if op == "not":
        return ~args[0].astype(bool)
    left, right = args
    if op == "and":
        return left.astype(bool) & right.astype(bool)
    if op == "or":
        return left.astype(bool) | right.astype(bool)
    if op in ("starts_with", "ends_with", "contains"):
        text = left.astype("string")
        found = {"starts_with": text.str.startswith, "ends_with": text.str.endswith,
                 "contains": lambda v: text.str.contains(v, regex=False)}[op](right)
        return found.fillna(False).astype(bool)
    if op == "is_null":
        return left.isna()
    if op == "in":
        return left.isin(right)
    compare = {"==": left.__eq__, "!=": left.__ne__, "<": left.__lt__, "<=": left.__le__,
               ">": left.__gt__, ">=": left.__ge__}[op]
    return compare(right).fillna(False).astype(bool)


def _sample_mask(count: int, probability: float, seed: int | None) -> Any:
    import numpy

    return numpy.random.default_rng(seed).random(count) < probability


def apply_transforms(frame: Any, transforms: list[dict[str, Any]]) -> Any:
    """Apply a dataset's recorded transformations in order; every process that reads it gets the same rows."""
    for step in transforms or []:
        op = step["op"]
        if op == "take":
            frame = frame.iloc[: step["count"]]
        elif op == "skip":
            frame = frame.iloc[step["count"]:]
        elif op == "keep_columns":
            missing = [c for c in step["columns"] if c not in frame.columns]
            if missing and step.get("validate"):
                raise KeyError(f"keep_columns: the dataset has no column(s) {missing} (columns: {list(frame.columns)})")
            frame = frame[[c for c in step["columns"] if c in frame.columns]]
        elif op == "drop_columns":
            frame = frame.drop(columns=[c for c in step["columns"] if c in frame.columns])
        elif op == "filter":
            frame = frame[_evaluate(frame, step["expression"]).to_numpy()]
        elif op in ("take_sample", "random_split"):
            mask = _sample_mask(len(frame), step["probability"], step.get("seed"))
            frame = frame[~mask if step.get("complement") else mask]
        else:
            raise ValueError(f"unknown dataset transformation {op!r}: this amlite is older than the dataset's")
        frame = frame.reset_index(drop=True)
    return frame


# Row-local transformations give the same rows whether applied to the whole table or to each slice of it.
ROW_LOCAL = frozenset({"keep_columns", "drop_columns", "filter"})
