"""Where a step's data lives: output locations, input locations, and the local paths arguments resolve to.

AML's rules, restated: ``PipelineData``/``OutputFileDatasetConfig`` outputs are
local folders the script writes, uploaded after success; inputs (upstream
outputs, ``DataReference``, ``DataPath``) are downloaded first and the argument
becomes their local path. Parameters become their values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from pipeline_core.errors import AmliteError
from pipeline_core.storage.blobs import download_prefix, list_prefix

DEFAULT_OUTPUT_DATASTORE = "pipelinedata"

ContainerFor = Callable[[str], ContainerClient]  # datastore name -> container


@dataclass(frozen=True)
class Location:
    datastore: str
    path: str

    def to_dict(self) -> dict[str, str]:
        return {"datastore": self.datastore, "path": self.path}


def output_location(entry: dict[str, Any], data_id: str, run_id: str, step: str) -> Location:
    if entry["kind"] == "output" and entry.get("datastore"):
        path = (entry.get("path") or "{run-id}/{output-name}")
        path = path.replace("{run-id}", run_id).replace("{output-name}", data_id)
        return Location(entry["datastore"], path.strip("/"))
    return Location(entry.get("datastore") or DEFAULT_OUTPUT_DATASTORE, f"{run_id}/{step}/{data_id}")


def input_location(entry: dict[str, Any], data_id: str, parameters: dict[str, Any],
                   upstream_outputs: dict[str, dict[str, Any]]) -> Location:
    kind = entry["kind"]
    if kind in ("pipeline_data", "output"):
        produced = upstream_outputs.get(data_id)
        if not produced:
            raise AmliteError(f"input {data_id!r}: its producing step {entry.get('producer')!r} recorded no output; "
                              "did it finish?")
        return Location(produced["datastore"], produced["path"])
    if kind == "data_reference":
        return Location(entry["datastore"], entry.get("path") or "")
    if kind == "datapath":
        value = parameters.get(entry["parameter"])
        if not isinstance(value, dict) or "datastore" not in value:
            raise AmliteError(f"DataPath parameter {entry['parameter']!r} has no datastore/path value")
        return Location(value["datastore"], value.get("path") or "")
    raise AmliteError(f"unknown data kind {kind!r} for {data_id!r}")


def download_input(container: ContainerClient, location: Location, target: Path) -> Path:
    """Download an input; the path an argument gets is the file itself when the location names one blob."""
    blobs = list_prefix(container, location.path)
    if not blobs:
        raise AmliteError(
            f"input path {location.path!r} on datastore {location.datastore!r} holds no blobs; "
            "upload the data first or fix the path"
        )
    download_prefix(container, location.path, target)
    if len(blobs) == 1 and blobs[0][0] == location.path.strip("/"):
        return target / location.path.rsplit("/", 1)[-1]
    return target


_PARAM_REF = re.compile(r"\$AML_PARAMETER_([A-Za-z_][A-Za-z0-9_]*)")


def format_value(value: Any) -> str:
    if isinstance(value, dict) and "datastore" in value:
        return f"{value['datastore']}/{value.get('path', '')}"
    return str(value)


def resolve_token(token: dict[str, Any], parameters: dict[str, Any], paths: dict[str, Path]) -> str:
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
