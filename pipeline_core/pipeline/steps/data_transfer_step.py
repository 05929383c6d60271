"""``DataTransferStep`` with AML v1's arguments: copy data between Blob/ADLS Gen2 datastores and databases.

AML ran it on Azure Data Factory; here the storage service and the database do the
moving and the step only directs it (``pipeline_core.transfer``): Blob -> Blob is a
server-side copy (no byte through the worker), a database -> Blob export streams rows
in chunks into a CSV or Parquet blob, Blob -> database loads a file into a table.

Endpoints, as AML takes them: a source is a ``DataReference``, ``DataPath``,
``SqlDataReference`` or an upstream step's ``PipelineData`` / ``OutputFileDatasetConfig``
(an input of this step); a destination is a ``DataReference``, ``DataPath``,
``SqlDataReference`` (``sql_table``) or a ``PipelineData`` / ``OutputFileDatasetConfig``
(this step's output, read by later steps). ``compute_target`` (a ``DataFactoryCompute``)
is recorded: no Data Factory is involved.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig, OutputInput
from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.pipeline.core.graph import PipelineData
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken

REFERENCE_TYPES = (None, "file", "directory")
#: A SqlDataReference's data_reference_name becomes an exported file's name: a plain name only.
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SOURCES = "a DataReference, DataPath, SqlDataReference, or an upstream PipelineData/OutputFileDatasetConfig"
_DESTINATIONS = "a DataReference, DataPath, SqlDataReference (sql_table) or a PipelineData/OutputFileDatasetConfig"


class DataTransferStep(PipelineStep):
    """Copies ``source_data_reference`` to ``destination_data_reference`` (see the module doc).

    ``source_reference_type`` / ``destination_reference_type``: ``"file"`` or ``"directory"``
    (AML's names; ``None`` lets the paths decide). A ``file`` source must be one blob; a
    ``directory`` destination receives the source under its own name. Reuse (``allow_reuse``)
    is keyed on the source's blob ETags or, for a database, a checksum of its rows.
    """

    step_type = "DataTransferStep"

    def __init__(self, name: str, source_data_reference: Any = None, destination_data_reference: Any = None,
                 compute_target: Any = None, source_reference_type: str | None = None,
                 destination_reference_type: str | None = None, allow_reuse: bool = True):
        if not name or not isinstance(name, str):
            raise ValueError("DataTransferStep needs a name")
        if source_data_reference is None or destination_data_reference is None:
            raise ValueError(f"DataTransferStep {name!r} needs source_data_reference ({_SOURCES}) and "
                             f"destination_data_reference ({_DESTINATIONS})")
        for label, value in (("source_reference_type", source_reference_type),
                             ("destination_reference_type", destination_reference_type)):
            if value not in REFERENCE_TYPES:
                raise ValueError(f"DataTransferStep {name!r}: {label}={value!r}; use 'file' or 'directory'")
        source, destination = source_data_reference, destination_data_reference
        if not isinstance(source, (DataReference, DataPath, SqlDataReference, PipelineData, OutputFileDatasetConfig,
                                   OutputInput)):
            raise ValueError(f"DataTransferStep {name!r}: source_data_reference is a {type(source).__name__}; "
                             f"use {_SOURCES}")
        if not isinstance(destination, (DataReference, DataPath, SqlDataReference, PipelineData,
                                        OutputFileDatasetConfig)):
            raise ValueError(f"DataTransferStep {name!r}: destination_data_reference is a "
                             f"{type(destination).__name__}; use {_DESTINATIONS}")
        if isinstance(source, SqlDataReference) and isinstance(destination, SqlDataReference):
            raise ValueError(f"DataTransferStep {name!r}: both ends are databases; export to a Blob datastore in "
                             "one step and load it into the other database in the next")
        if isinstance(destination, SqlDataReference) and not destination.sql_table:
            raise ValueError(f"DataTransferStep {name!r}: a database destination is a table: "
                             "SqlDataReference(datastore, sql_table='...')")
        inputs = [] if isinstance(source, SqlDataReference) else [source]
        outputs = [destination] if isinstance(destination, (PipelineData, OutputFileDatasetConfig)) else []
        super().__init__(name, inputs=inputs, outputs=outputs, allow_reuse=allow_reuse)
        self.source_data_reference = source
        self.destination_data_reference = destination
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type
        self.compute_target = compute_target
        if compute_target is not None:
            warn_ignored("DataTransferStep's compute_target (a DataFactoryCompute)",
                         "The storage service and the database move the data; no Data Factory is involved.")

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        def endpoint(value: Any, where: str) -> dict[str, Any] | None:
            if isinstance(value, SqlDataReference):
                return {"sql": value.to_dict()}
            found = token(value, where)
            return dict(found) if found is not None else None

        target = self.compute_target
        return {"source": endpoint(self.source_data_reference, "source_data_reference"),
                "destination": endpoint(self.destination_data_reference, "destination_data_reference"),
                "source_reference_type": self.source_reference_type,
                "destination_reference_type": self.destination_reference_type,
                "recorded": {"compute_target": getattr(target, "name", target) if target is not None else None}}


def _endpoint_problem(value: Any) -> str | None:
    if not isinstance(value, dict) or len(value) != 1:
        return "must be {'data': id} or {'sql': {...}}"
    if "data" in value:
        return None if isinstance(value["data"], str) and value["data"] else "names no data"
    sql = value.get("sql")
    if not isinstance(sql, dict) or not isinstance(sql.get("datastore"), str):
        return "must name a database datastore"
    name = sql.get("name")
    if name is not None and (not isinstance(name, str) or not _FILE_NAME.match(name)):
        return f"name {name!r} must be a plain name (letters, digits, '_', '-', '.'), never a path"
    given = [k for k in ("sql_table", "sql_query", "sql_stored_procedure") if sql.get(k)]
    if len(given) != 1 or not all(isinstance(sql[k], str) for k in given):
        return "takes exactly one of sql_table, sql_query and sql_stored_procedure"
    try:
        SqlDataReference(sql["datastore"], data_reference_name=sql.get("name") or None, sql_table=sql.get("sql_table"),
                         sql_query=sql.get("sql_query"), sql_stored_procedure=sql.get("sql_stored_procedure"),
                         sql_stored_procedure_params=sql.get("sql_stored_procedure_params")
                         if isinstance(sql.get("sql_stored_procedure_params"), list) else None)
    except Exception as exc:  # noqa: BLE001 - a posted entry may hold anything: say what is wrong with it
        return str(exc)
    return None


def check_transfer_step(step: dict[str, Any]) -> list[tuple[str, str]]:
    """The kind's spec check (SDK validate, publish, a posted spec, and again before the step runs)."""
    problems = []
    for field in ("source", "destination"):
        problem = _endpoint_problem(step.get(field))
        if problem:
            problems.append((field, problem))
    for field in ("source_reference_type", "destination_reference_type"):
        if step.get(field) not in REFERENCE_TYPES:
            problems.append((field, f"is {step.get(field)!r}; use 'file' or 'directory'"))
    source, destination = step.get("source"), step.get("destination")
    listed = step.get("inputs")
    inputs: list[Any] = listed if isinstance(listed, list) else []
    if isinstance(source, dict) and isinstance(source.get("data"), str) and source["data"] \
            and source["data"] not in inputs:
        problems.append(("source", f"names data {source['data']!r}, which is not one of the step's inputs"))
    if isinstance(destination, dict) and destination.get("data") in inputs:
        problems.append(("destination", f"names data {destination['data']!r}, an input of the step"))
    if isinstance(source, dict) and isinstance(destination, dict) and "sql" in source and "sql" in destination:
        problems.append(("destination", "is a database as the source is; export to Blob in one step, load in the next"))
    if isinstance(destination, dict) and isinstance(destination.get("sql"), dict) and \
            not destination["sql"].get("sql_table"):
        problems.append(("destination", "is a database but names no sql_table to write"))
    return problems


__all__ = ["DataTransferStep"]
