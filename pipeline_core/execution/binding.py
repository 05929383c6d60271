"""Where a step's data lives: output locations, input locations, and the local paths arguments resolve to.

AML's rules, restated: ``PipelineData``/``OutputFileDatasetConfig`` outputs are
local folders the script writes, uploaded after success; inputs (upstream
outputs, ``DataReference``, ``DataPath``) are downloaded first and the argument
becomes their local path. Parameters become their values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from azure.storage.blob import ContainerClient

from pipeline_core.data.dataset_paths import DatasetFile, download_files, fingerprint_files, list_files
from pipeline_core.errors import AmliteError
from pipeline_core.safe_paths import safe_join
from pipeline_core.spec_types import DataEntry, Token
from pipeline_core.storage.blobs import download_prefix, list_prefix

DEFAULT_OUTPUT_DATASTORE = "pipelinedata"

ContainerFor = Callable[[str], ContainerClient]  # datastore name -> container


@dataclass(frozen=True)
class Location:
    datastore: str
    path: str
    # Written by an upstream step: an empty output is an empty folder, not an error.
    produced: bool = field(default=False, kw_only=True)

    def to_dict(self) -> dict[str, str]:
        return {"datastore": self.datastore, "path": self.path}


@dataclass(frozen=True)
class DatasetLocation(Location):
    """A dataset input: paths with globs, maybe on several datastores; ``datastore``/``path`` name the first."""

    entry: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {"datastore": self.datastore, "path": self.path, "dataset": self.entry.get("name"),
                "version": self.entry.get("version")}


def dataset_identity(container_for: ContainerFor, entry: Mapping[str, Any],
                     files: list[DatasetFile] | None = None) -> dict[str, Any]:
    """A dataset input's part of a reuse key: registered name and version, definition, matched blobs' ETags.

    ``files``: the dataset's listing when the caller already has it (a listing is the costly part).
    """
    if files is None:
        files = list_files(container_for, entry["definition"]["paths"])
    return {"dataset": entry.get("name"), "version": entry.get("version"), "definition": entry["definition"],
            "blobs": len(files), "etags": fingerprint_files(files)}


def output_location(entry: DataEntry, data_id: str, run_id: str, step: str) -> Location:
    if entry["kind"] == "output" and (datastore := entry.get("datastore")):
        path = (entry.get("path") or "{run-id}/{output-name}")
        path = path.replace("{run-id}", run_id).replace("{output-name}", data_id)
        return Location(datastore, path.strip("/"))
    return Location(entry.get("datastore") or DEFAULT_OUTPUT_DATASTORE, aml_output_path(run_id, step, data_id))


def aml_output_path(run_id: str, step: str, data_id: str) -> str:
    """AML's layout for an output with no path of its own: ``azureml/{step run id}/{output name}``.

    Code written for AML downloads an output and looks for ``azureml/<folder>/<output>/``, and Data
    Factory pipelines read outputs by that path, so the layout is AML's (the step run id is
    ``{run id}_{step name}`` here, as ``Run.get_context().id`` says).
    """
    return f"azureml/{run_id}_{step}/{data_id}"


def resolved_dataset(entry: DataEntry, parameters: dict[str, Any]) -> DataEntry:
    """A dataset input as this run reads it: bound to a dataset parameter, the run's value of it."""
    param = entry.get("parameter")
    if not param:
        return entry
    value = parameters.get(param)
    if not isinstance(value, dict) or "definition" not in value:
        raise AmliteError(f"dataset parameter {param!r} has no dataset value; pass pipeline_parameters="
                          f"{{{param!r}: Dataset...}} or give the PipelineParameter a Dataset default")
    return cast(DataEntry, {**entry, **value, "kind": "dataset"})


def input_location(entry: DataEntry, data_id: str, parameters: dict[str, Any],
                   upstream_outputs: dict[str, dict[str, Any]]) -> Location:
    kind = entry["kind"]
    if kind in ("pipeline_data", "output"):
        produced = upstream_outputs.get(data_id)
        if not produced:
            raise AmliteError(f"input {data_id!r}: its producing step {entry.get('producer')!r} recorded no output; "
                              "did it finish?")
        return Location(produced["datastore"], produced["path"], produced=True)
    if kind == "data_reference":
        return Location(entry.get("datastore") or "", entry.get("path") or "")
    if kind == "datapath":
        value = parameters.get(entry["parameter"])
        if not isinstance(value, dict) or "datastore" not in value:
            raise AmliteError(f"DataPath parameter {entry['parameter']!r} has no datastore/path value")
        return Location(value["datastore"], value.get("path") or "")
    if kind == "dataset":
        entry = resolved_dataset(entry, parameters)
        first = entry["definition"]["paths"][0]
        return DatasetLocation(first["datastore"], first["path"], entry)
    raise AmliteError(f"unknown data kind {kind!r} for {data_id!r}")


def download_input(container: ContainerClient, location: Location, target: Path) -> Path:
    """Download an input; the path an argument gets is the file itself when the location names one blob."""
    blobs = list_prefix(container, location.path)
    if not blobs:  # AML mounts a path nothing was uploaded to as an empty folder, and the step runs
        target.mkdir(parents=True, exist_ok=True)
        return target
    download_prefix(container, location.path, target)
    if len(blobs) == 1 and blobs[0][0] == location.path.strip("/"):
        return safe_join(target, location.path.rsplit("/", 1)[-1],
                         f"blob {blobs[0][0]!r} on datastore {location.datastore!r}")
    return target


def data_folder(work: Path, kind: str, data_id: str) -> Path:
    """``work/<kind>/<data id>``: where a step's input is downloaded or its output written.

    A data id comes from the spec (a posted one can say anything), so it is joined
    like any name from data; ``datapath:<name>`` ids become ``datapath_<name>``.
    """
    return safe_join(work / kind, data_id.replace(":", "_"), f"data id {data_id!r}")


def download_location(container_for: ContainerFor, location: Location, target: Path) -> Path:
    """Download any input; a dataset becomes a folder of its matched files (relative to its base folder),
    except a dataset made from one file's path, which is that file (AML passes the file, and scripts open it)."""
    if not isinstance(location, DatasetLocation):
        return download_input(container_for(location.datastore), location, target)
    files = list_files(container_for, location.entry["definition"]["paths"])
    if not files:
        shown = ", ".join(f"{p['datastore']}:{p['path']}" for p in location.entry["definition"]["paths"])
        label = f"dataset {location.entry['name']!r} version {location.entry['version']}" \
            if location.entry.get("name") else "dataset"
        raise AmliteError(f"{label}: no blobs match {shown}; upload the data first or fix the dataset's path")
    local = download_files(container_for, files, target)
    paths = location.entry["definition"]["paths"]
    if len(paths) == 1 and len(files) == 1 and files[0].name == paths[0]["path"].strip("/"):
        return local[0]  # a dataset of one file is that file's path, as AML mounts or downloads it
    return target


_PARAM_REF = re.compile(r"\$AML_PARAMETER_([A-Za-z_][A-Za-z0-9_]*)")


def format_value(value: Any) -> str:
    if isinstance(value, dict) and "datastore" in value:
        return f"{value['datastore']}/{value.get('path', '')}"
    return str(value)


def resolve_token(token: Token, parameters: dict[str, Any], paths: dict[str, Path]) -> str:
    if "lit" in token:
        return _PARAM_REF.sub(lambda m: format_value(parameters[m.group(1)]) if m.group(1) in parameters
                              else m.group(0), token["lit"])
    if "param" in token:
        return format_value(parameters[token["param"]])
    if "data" in token:
        return str(paths[token["data"]])
    if "datapath" in token:
        return str(paths[f"datapath:{token['datapath']}"])
    raise AmliteError(f"unknown argument token {token!r}")
