"""Cutting ParallelRunStep inputs into mini-batches. Pure: file listings in, batch descriptions out.

Rules (AML v1): file inputs -> ``mini_batch_size`` files per batch (default
10); tabular inputs -> about ``mini_batch_size`` bytes per batch (default 1MB),
never crossing a file: a delimited file is cut at byte offsets (each batch
takes the rows that *start* in its range, so every row lands in exactly one
batch), a parquet file by row groups; ``partition_keys`` -> one batch per
distinct combination of key values taken from the files' paths through the
input's ``partition_format``. Batches of several inputs follow each other in
input order and never mix inputs.

A batch is a small JSON dict: ``input`` (data id), ``files`` (the blobs to
fetch), for tabular ``parts`` (per file: byte range or row groups), ``items``
when known up front (files; parquet rows), and ``key`` for partitioned batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline_core.data.dataset_paths import DatasetFile
from pipeline_core.data.partition_format import partition_keys_of, partition_values
from pipeline_core.parallel.config import ConfigError

# (file) -> [(rows, bytes)] per parquet row group; supplied by the caller because it needs I/O.
RowGroupReader = Callable[[DatasetFile], list[tuple[int, int]]]


@dataclass
class BatchInput:
    """One batched input: its data id, kind, files, and for tabular the format (and partition_format)."""

    data: str
    type: str
    files: list[DatasetFile]
    format: dict[str, Any] | None = None
    partition_format: str | None = None


def _batch(inp: BatchInput, files: list[DatasetFile], parts: list[dict[str, Any]] | None = None,
           items: int | None = None, key: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"input": inp.data, "files": [f.to_dict() for f in files], "items": items}
    if parts is not None:
        found["parts"] = parts
    if key is not None:
        found["key"] = key
    return found


def file_batches(inp: BatchInput, size: int) -> list[dict[str, Any]]:
    return [_batch(inp, inp.files[i:i + size], items=len(inp.files[i:i + size]))
            for i in range(0, len(inp.files), size)]


def byte_ranges(file_size: int, batch_bytes: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most ``batch_bytes`` covering the file (one range for an empty file)."""
    if file_size <= batch_bytes:
        return [(0, file_size)]
    return [(start, min(start + batch_bytes, file_size)) for start in range(0, file_size, batch_bytes)]


def group_row_groups(groups: list[tuple[int, int]], batch_bytes: int) -> list[list[int]]:
    """Consecutive row groups up to ``batch_bytes`` each; a bigger row group is a batch of its own."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for index, (_rows, size) in enumerate(groups):
        if current and current_bytes + size > batch_bytes:
            batches.append(current)
            current, current_bytes = [], 0
        current.append(index)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def tabular_batches(inp: BatchInput, batch_bytes: int, row_groups: RowGroupReader) -> list[dict[str, Any]]:
    fmt = inp.format or {}
    found: list[dict[str, Any]] = []
    for f in inp.files:
        if fmt.get("kind") == "parquet":
            groups = row_groups(f)
            for members in group_row_groups(groups, batch_bytes):
                rows = sum(groups[i][0] for i in members)
                found.append(_batch(inp, [f], [{"file": 0, "row_groups": members}], items=rows))
        elif f.size == 0:
            continue  # an empty delimited file has no rows
        elif fmt.get("support_multi_line"):  # a quoted field may hold a newline: never cut inside the file
            found.append(_batch(inp, [f], [{"file": 0}]))
        else:
            for start, end in byte_ranges(f.size, batch_bytes):
                found.append(_batch(inp, [f], [{"file": 0, "start": start, "end": end}]))
    return found


def partitioned_batches(inp: BatchInput, keys: list[str]) -> list[dict[str, Any]]:
    """One batch per distinct combination of ``keys``, in order of first appearance."""
    if not inp.partition_format:
        raise ConfigError(f"partition_keys {keys} need input {inp.data!r} to have a partition_format "
                          "(e.g. Dataset.File.from_files(path, partition_format='/{store}/*.csv'))")
    known = partition_keys_of(inp.partition_format)
    missing = [k for k in keys if k not in known]
    if missing:
        raise ConfigError(f"partition_keys {missing} are not keys of input {inp.data!r}, whose "
                          f"partition_format {inp.partition_format!r} has keys {known}")
    groups: dict[tuple[str, ...], list[DatasetFile]] = {}
    for f in inp.files:
        found_values = partition_values(inp.partition_format, f.name)
        if found_values is None:
            raise ConfigError(f"input {inp.data!r}: file {f.name!r} does not fit partition_format "
                              f"{inp.partition_format!r}")
        groups.setdefault(tuple(found_values[k] for k in keys), []).append(f)
    found = []
    for combination, files in groups.items():
        key = dict(zip(keys, combination))
        if inp.type == "tabular":
            found.append(_batch(inp, files, [{"file": i} for i in range(len(files))], key=key))
        else:
            found.append(_batch(inp, files, items=len(files), key=key))
    return found


def make_batches(inputs: list[BatchInput], batch_size: int, partition_keys: list[str] | None,
                 row_groups: RowGroupReader) -> list[dict[str, Any]]:
    """Every input's batches, numbered in order; ``batch_size`` is files or bytes by input type."""
    batches: list[dict[str, Any]] = []
    for inp in inputs:
        if partition_keys:
            batches.extend(partitioned_batches(inp, partition_keys))
        elif inp.type == "tabular":
            batches.extend(tabular_batches(inp, batch_size, row_groups))
        else:
            batches.extend(file_batches(inp, batch_size))
    for index, batch in enumerate(batches):
        batch["index"] = index
    return batches
