"""Turning a spec plus submit arguments into a stored run (rows, snapshots, spec blob).

Shared by the SDK's local submit and the HTTP API, so parameter checking and
what a run row holds are identical on both paths.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from pipeline_core.data.datapath import DataPath
from pipeline_core.engine.services import Services, spec_blob_name
from pipeline_core.errors import AmliteError
from pipeline_core.errors import ParameterError as ParameterError
from pipeline_core.execution.snapshot import SNAPSHOT_CONTAINER, snapshot_zip, take_snapshot
from pipeline_core.safe_paths import datastore_path_problem, text_problem
from pipeline_core.spec import PipelineSpec
from pipeline_core.storage.blobs import put_if_absent
from pipeline_core.storage.run_store import NOT_STARTED
from pipeline_core.storage.side_by_side import beside, wait_all

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

EXPERIMENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")
_uploaded: set[tuple[str, str]] = set()



def check_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not EXPERIMENT_NAME_RE.match(name):
        raise AmliteError(
            f"experiment name {name!r} is invalid: use 1-255 letters, digits, '_' or '-', "
            "starting with a letter or digit", code="InvalidField", parameter="experiment_name"
        )
    return name


def coerce_parameters(spec: PipelineSpec, given: dict[str, Any] | None,
                      datapaths: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with the given values, each checked against the declared type."""
    declared = spec.parameters
    values: dict[str, Any] = {name: p["default"] for name, p in declared.items()}
    supplied = dict(given or {})
    supplied.update(datapaths or {})
    for name, value in supplied.items():
        if name not in declared:
            listed = ", ".join(f"{n} ({p['type']})" for n, p in sorted(declared.items())) or "none"
            raise ParameterError(f"unknown pipeline parameter {name!r}; this pipeline declares: {listed}",
                                 parameter=name)
        values[name] = _coerce(name, declared[name]["type"], value)
        _check_text(name, values[name])
    return values


def _check_text(name: str, value: Any) -> None:
    """A value becomes an argv entry or an environment value: NUL and lone surrogates cannot be either."""
    if isinstance(value, dict) and "definition" in value:  # a dataset: its paths were checked when coerced
        return
    if isinstance(value, dict):  # a DataPath: its path also becomes blob names, then local paths
        texts = [v for v in value.values() if isinstance(v, str)]
        path_problem = datastore_path_problem(value.get("path"))
    else:
        texts = [value] if isinstance(value, str) else []
        path_problem = None
    for text in texts:
        problem = text_problem(text)
        if problem:
            raise ParameterError(f"pipeline parameter {name!r} {problem}; a value is passed to the step's process "
                                 "as an argument, so it must be plain text", parameter=name)
    if path_problem:
        raise ParameterError(f"pipeline parameter {name!r}: DataPath path {value.get('path')!r} {path_problem}",
                             parameter=name)


def _dataset_value(name: str, value: Any, wrong: Any) -> dict[str, Any]:
    """A dataset given for a dataset parameter: a Dataset object, or its reference as a spec holds it."""
    from pipeline_core.data.abstract_dataset import AbstractDataset
    from pipeline_core.data.dataset_consumption_config import dataset_reference

    if isinstance(value, AbstractDataset):
        return dataset_reference(value)
    paths = (value.get("definition") or {}).get("paths") if isinstance(value, dict) else None
    if not isinstance(paths, list) or not paths or not all(
            isinstance(p, dict) and isinstance(p.get("datastore"), str) and isinstance(p.get("path"), str)
            for p in paths):
        raise wrong()
    for p in paths:
        problem = datastore_path_problem(p["path"]) if p["datastore"] != "@web" else None
        if problem:
            raise ParameterError(f"pipeline parameter {name!r}: dataset path {p['path']!r} {problem}", parameter=name)
    return {"dataset_type": value.get("dataset_type") or "file", "definition": value["definition"],
            "name": value.get("name"), "version": value.get("version"), "id": value.get("id")}


def _coerce(name: str, kind: str, value: Any) -> Any:
    def wrong() -> ParameterError:
        return ParameterError(f"pipeline parameter {name!r} expects {kind}, got {type(value).__name__} {value!r}",
                              parameter=name)

    if kind == "datapath":
        if isinstance(value, DataPath):
            return value.to_dict()
        if isinstance(value, dict):
            try:
                return DataPath.from_dict(value).to_dict()
            except ValueError as exc:
                raise ParameterError(f"pipeline parameter {name!r}: {exc}", parameter=name) from None
        raise wrong()
    if kind == "dataset":
        return _dataset_value(name, value, wrong)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise wrong()
    if kind == "int":
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise wrong() from None
        raise wrong()
    if kind == "float":
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise wrong() from None
        raise wrong()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        return str(value)
    raise wrong()


def upload_spec_and_snapshots(services: Services, spec: PipelineSpec) -> None:
    """Content-addressed uploads: each snapshot and spec is written once per account, ever.

    Each blob is checked and written beside the others (they are independent, and a submit waits for
    them all): one round trip of wall time or two, however many source folders the pipeline has.
    """
    container = services.account.container(SNAPSHOT_CONTAINER)
    local_dirs = spec.doc.get("local", {}).get("source_directories", {})
    wanted: dict[str, str] = {}  # snapshot hash -> the first step that names it
    for step in spec.steps:
        snapshot_hash = step.get("snapshot")
        if snapshot_hash and (services.storage, snapshot_hash) not in _uploaded:
            wanted.setdefault(snapshot_hash, step["name"])
    uploads: dict[str, Future[Any]] = {key: beside(_upload_snapshot, container, key, name, local_dirs.get(name))
                                       for key, name in wanted.items()}
    graph_id = spec.graph_id
    payload = None
    if (services.storage, graph_id) not in _uploaded:
        payload = spec.to_json().encode()
        uploads[graph_id] = beside(put_if_absent, container, spec_blob_name(graph_id), payload)
    wait_all(uploads.values())
    _uploaded.update((services.storage, key) for key in uploads)
    if payload is not None:
        # The stored spec is this graph whoever stored it (its id hashes all of it but the description and the
        # source folders, which no activity reads): the run's activities in this process need not download it.
        services.remember_spec(graph_id, payload)


def _upload_snapshot(container: ContainerClient, snapshot_hash: str, step: str, source: str | None) -> None:
    blob = container.get_blob_client(f"{snapshot_hash}.zip")
    if blob.exists():
        return
    if not source:
        raise AmliteError(f"step {step!r}: snapshot {snapshot_hash} is not stored and its "
                          "source_directory is unknown here; publish or submit from the machine that has it")
    snapshot = take_snapshot(source)
    if snapshot.hash != snapshot_hash:
        raise AmliteError(f"step {step!r}: source_directory {source!r} changed since the pipeline "
                          "was built; build the pipeline again")
    put_if_absent(container, blob.blob_name, snapshot_zip(snapshot))


def create_run(services: Services, spec: PipelineSpec, experiment: str, parameters: dict[str, Any] | None = None,
               datapaths: dict[str, Any] | None = None, regenerate_outputs: bool = False,
               continue_on_step_failure: bool | None = None, description: str | None = None,
               tags: dict[str, str] | None = None, run_source: str = "SDK", pipeline_id: str | None = None,
               run_id: str | None = None, extra_fields: dict[str, Any] | None = None) -> str:
    """Store a new NotStarted run of ``spec``; returns its id (``create_run_row`` returns the row)."""
    row = create_run_row(services, spec, experiment, parameters, datapaths, regenerate_outputs,
                         continue_on_step_failure, description, tags, run_source, pipeline_id, run_id, extra_fields)
    return str(row["PartitionKey"])


def create_run_row(services: Services, spec: PipelineSpec, experiment: str, parameters: dict[str, Any] | None = None,
                   datapaths: dict[str, Any] | None = None, regenerate_outputs: bool = False,
                   continue_on_step_failure: bool | None = None, description: str | None = None,
                   tags: dict[str, str] | None = None, run_source: str = "SDK", pipeline_id: str | None = None,
                   run_id: str | None = None, extra_fields: dict[str, Any] | None = None,
                   status: str = NOT_STARTED) -> dict[str, Any]:
    """``create_run``, returning the stored run row (with its etag). ``extra_fields`` (who submitted it,
    notes, ...) are written in the same transaction as the rest, not in a second round trip; so is
    ``status`` Queued when the caller starts the run at once (``launch.start_or_fail`` then has no
    NotStarted -> Queued write to make)."""
    check_experiment_name(experiment)
    values = coerce_parameters(spec, parameters, datapaths)
    upload_spec_and_snapshots(services, spec)
    run_id = run_id or str(uuid.uuid4())
    if continue_on_step_failure is None:
        continue_on_step_failure = bool(spec.doc.get("continue_on_step_failure", False))
    return services.runs.create_run(
        run_id, experiment,
        {"graph_id": spec.graph_id, "pipeline_id": pipeline_id or "", "parameters": values,
         "regenerate_outputs": bool(regenerate_outputs), "continue_on_step_failure": bool(continue_on_step_failure),
         "description": description or spec.doc.get("description") or "", "tags": tags or {},
         "run_source": run_source, **(extra_fields or {})},
        [(s["name"], {"step_type": s["type"], "recorded": s.get("recorded") or {}}) for s in spec.steps],
        status=status,
    )
