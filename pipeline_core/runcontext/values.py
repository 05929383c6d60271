"""Metric values: what one ``log*`` call records, and how recorded values read back as AML returns them.

AML v1's shapes, which user code indexes into: a name logged once with ``log``
reads back as its value, logged more often as the list of values in order;
``log_list`` as a list; ``log_row``/``log_table`` as ``{column: [values]}``
(a single ``log_row`` as ``{column: value}``); images as the
``aml://artifactId/...`` id of their PNG. Stdlib only: the step side imports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline_core.errors import AmliteError

SCALAR, LIST, ROW, TABLE, IMAGE, JSON = "scalar", "list", "row", "table", "image", "json"
KINDS = (SCALAR, LIST, ROW, TABLE, IMAGE, JSON)
MAX_VALUE_CHARS = 900_000  # one log call; a Table entity holds at most 1 MiB
ARTIFACT_ID_PREFIX = "aml://artifactId/ExperimentRun/dcid."


def scalar(value: Any, name: str) -> Any:
    """A JSON scalar for ``value``: numpy scalars become Python numbers; other objects their ``repr`` (as AML)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            converted = item()
        except (TypeError, ValueError):
            converted = None
        if isinstance(converted, (bool, int, float, str)):
            return converted
    return repr(value)


def _column(values: Any, name: str, column: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise AmliteError(f"log_table {name!r}: column {column!r} must be a list of values, not "
                          f"{type(values).__name__}")
    return [scalar(v, name) for v in values]


def record_value(kind: str, value: Any, name: str) -> Any:
    """The JSON value one call records (checked: ``kind`` fits ``value``)."""
    if kind == SCALAR:
        return scalar(value, name)
    if kind == LIST:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise AmliteError(f"log_list {name!r}: value must be a list, not {type(value).__name__}")
        return [scalar(v, name) for v in value]
    if kind == ROW:
        return {str(k): scalar(v, name) for k, v in dict(value).items()}
    if kind == TABLE:
        if not isinstance(value, Mapping):
            raise AmliteError(f"log_table {name!r}: value must be a dict of column name -> list of values")
        columns = {str(k): _column(v, name, str(k)) for k, v in value.items()}
        if len({len(v) for v in columns.values()}) > 1:
            raise AmliteError(f"log_table {name!r}: every column must have the same number of values")
        return columns
    if kind == IMAGE:
        return str(value)
    if kind == JSON:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise AmliteError(f"metric {name!r}: value is a string but not JSON") from None
        return json.loads(json.dumps(value, default=repr))
    raise AmliteError(f"unknown metric kind {kind!r}; one of {', '.join(KINDS)}")


def encode(value: Any, name: str) -> str:
    """JSON text of a recorded value (NaN and infinities kept, as Python writes them)."""
    text = json.dumps(value, allow_nan=True)
    if len(text) > MAX_VALUE_CHARS:
        raise AmliteError(f"metric {name!r}: one call's value is {len(text)} characters of JSON; at most "
                          f"{MAX_VALUE_CHARS}. Save it to a file and upload_file() it instead")
    return text


def merge(records: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    """``(name, kind, value)`` in logging order -> ``{name: value}`` in AML's shapes (see the module doc)."""
    kinds: dict[str, str] = {}
    collected: dict[str, list[Any]] = {}
    for name, kind, value in records:
        kinds.setdefault(name, kind)
        collected.setdefault(name, []).append((kind, value))
    merged: dict[str, Any] = {}
    for name, entries in collected.items():
        kind = kinds[name]
        if kind in (ROW, TABLE):
            columns: dict[str, list[Any]] = {}
            for entry_kind, value in entries:
                if not isinstance(value, dict):
                    continue
                for column, cell in value.items():
                    cells = cell if entry_kind == TABLE and isinstance(cell, list) else [cell]
                    columns.setdefault(column, []).extend(cells)
            single_row = len(entries) == 1 and kind == ROW
            merged[name] = {c: v[0] for c, v in columns.items()} if single_row else columns
        elif kind == LIST:
            merged[name] = [v for _, value in entries for v in (value if isinstance(value, list) else [value])]
        else:
            values = [value for _, value in entries]
            merged[name] = values[0] if len(values) == 1 else values
    return merged


def json_safe(metrics: Any) -> Any:
    """Metrics for a strict JSON answer: NaN and infinities become the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(metrics, float) and not math.isfinite(metrics):
        return "NaN" if math.isnan(metrics) else ("Infinity" if metrics > 0 else "-Infinity")
    if isinstance(metrics, dict):
        return {k: json_safe(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [json_safe(v) for v in metrics]
    return metrics


def short(metrics: Mapping[str, Any]) -> str:
    """One line for ``amlite show``: ``rmse=0.3 loss=[3 values, last 0.1] curve{x,y}`` (values, series, tables)."""
    parts: list[str] = []
    order = {bool: 0, list: 1, dict: 2}
    for name, value in sorted(metrics.items(), key=lambda item: order.get(type(item[1]), 0)):
        if isinstance(value, list):
            text = f"{name}=[{len(value)} values, last {_fmt(value[-1])}]" if value else f"{name}=[]"
        elif isinstance(value, dict):
            text = f"{name}{{{','.join(map(str, value))}}}"
        else:
            text = f"{name}={_fmt(value)}"
        parts.append(text)
    return "  ".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    if text.startswith(ARTIFACT_ID_PREFIX):
        return "[image]"
    return text if len(text) <= 40 else text[:37] + "..."
