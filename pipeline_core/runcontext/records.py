"""What a run records about itself, host side: metrics, tags, properties, files, and models from its files.

Addressed by AML run id: the pipeline run's id, or a step run's id
``{pipeline run id}_{step}`` (``AZUREML_RUN_ID`` inside the step). The run
context service (``server.py``) serves a step these operations, and the SDK's
``StepRun``/``PipelineRun``/``Run`` call them directly on a workspace's storage.
"""

from __future__ import annotations

import posixpath
from functools import cached_property
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.errors import NotFoundError
from pipeline_core.exceptions import ModelPathNotFoundException
from pipeline_core.execution.binding import resolved_dataset
from pipeline_core.runcontext.names import check_artifact_name, check_model_name
from pipeline_core.storage.artifact_store import ArtifactStore
from pipeline_core.storage.metric_store import MetricStore
from pipeline_core.storage.model_store import ModelRecord, ModelStore, registration_fields
from pipeline_core.storage.run_store import step_key
from pipeline_core.storage.run_tag_store import RunTagStore

#: The data kinds a step's inputs can be; Run.input_datasets lists all of them by name.
OUTPUT_KINDS = ("pipeline_data", "output")


def split_run_id(run_id: str) -> tuple[str, str]:
    """AML run id -> (pipeline run id, step name); the step is "" for the pipeline run itself."""
    pipeline_run, _, step = run_id.partition("_")
    return pipeline_run, step


def step_run_id(pipeline_run: str, step: str) -> str:
    return f"{pipeline_run}_{step}" if step else pipeline_run


class RunRecords:
    """Metrics, tags, properties and files of the runs in one workspace's storage."""

    def __init__(self, services: Services):
        self.services = services

    @cached_property
    def metric_store(self) -> MetricStore:
        return MetricStore(self.services.account)

    @cached_property
    def tag_store(self) -> RunTagStore:
        return RunTagStore(self.services.account)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.services.account)

    @cached_property
    def models(self) -> ModelStore:
        return ModelStore(self.services.account)

    def require(self, run_id: str) -> tuple[str, str]:
        """The run's (pipeline run id, step), or NotFoundError naming what is missing."""
        pipeline_run, step = split_run_id(run_id)
        if step:
            self.services.runs.get_step(pipeline_run, step)  # raises NotFoundError with the run's steps
        else:
            self.services.runs.get_run(pipeline_run)
        return pipeline_run, step

    # -- metrics -------------------------------------------------------------------
    def log_metrics(self, run_id: str, records: list[dict[str, Any]]) -> int:
        pipeline_run, step = split_run_id(run_id)
        return self.metric_store.add(pipeline_run, step, records)

    def get_metrics(self, run_id: str, recursive: bool = False) -> dict[str, dict[str, Any]]:
        """``{run id: {name: value}}``: the run's own, and with ``recursive`` its steps' (those that logged)."""
        pipeline_run, step = split_run_id(run_id)
        if step or not recursive:
            found = self.metric_store.metrics(pipeline_run, step)
            return {run_id: found.get(step, {})}
        return {step_run_id(pipeline_run, s): m for s, m in self.metric_store.metrics(pipeline_run).items()}

    # -- tags and properties -------------------------------------------------------
    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.tag_store.set_tags(*split_run_id(run_id), tags)

    def remove_tags(self, run_id: str, names: list[str]) -> None:
        self.tag_store.remove_tags(*split_run_id(run_id), names)

    def add_properties(self, run_id: str, properties: dict[str, Any]) -> None:
        self.tag_store.add_properties(*split_run_id(run_id), properties)

    def tags_and_properties(self, run_id: str) -> dict[str, dict[str, str]]:
        pipeline_run, step = split_run_id(run_id)
        found = self.tag_store.read(pipeline_run, step).get(step, {"tags": {}, "properties": {}})
        if not step:  # the tags given at submit live on the run row
            submitted = self.services.runs.get_run(pipeline_run).get("tags") or {}
            found["tags"] = {**{str(k): str(v) for k, v in submitted.items()}, **found["tags"]}
        return found

    # -- files ---------------------------------------------------------------------
    def upload(self, run_id: str, name: str, data: Any, length: int | None = None) -> str:
        return self.artifacts.upload(run_id, name, data, length)

    def file_names(self, run_id: str) -> list[str]:
        return self.artifacts.names(run_id)

    # -- models --------------------------------------------------------------------
    def register_model(self, run_id: str, model_name: str, model_path: str, **fields: Any) -> ModelRecord:
        """Register the run's uploaded file or folder ``model_path`` as the next version of ``model_name``."""
        check_model_name(model_name)
        recorded = registration_fields(fields)
        path = check_artifact_name(str(model_path or "").rstrip("/"), "model_path")
        names = self.artifacts.blobs_under(run_id, path)
        if not names:
            have = self.file_names(run_id)
            raise ModelPathNotFoundException(
                f"could not find model_path {path!r} in the files uploaded to run {run_id}"
                f" ({', '.join(have[:20]) or 'none'}); upload it first with run.upload_file(name, path)")
        root = posixpath.basename(path)
        store = self.models
        uid = store.new_uid()
        for name in names:
            relative = root + name[len(path):]
            downloader = self.artifacts.container.download_blob(self.artifacts.blob_name(run_id, name))
            store.put_file(model_name, uid, relative, downloader.chunks(), length=downloader.size)
        pipeline_run, _ = split_run_id(run_id)
        experiment = self.services.runs.get_run(pipeline_run).get("experiment") or ""
        record = ModelRecord(name=model_name, version=0, uid=uid, root=root, is_file=names == [path],
                             run_id=run_id, experiment_name=experiment, **recorded)
        return store.create_version(record)

    # -- what a step's Run object shows ----------------------------------------------
    def details(self, run_id: str) -> dict[str, Any]:
        """Ids, experiment, status and (for a step) its named inputs and outputs, for ``Run.get_context()``."""
        pipeline_run, step = self.require(run_id)
        run = self.services.runs.get_run(pipeline_run)
        answer: dict[str, Any] = {"id": run_id, "parent_id": pipeline_run if step else None,
                                  "experiment": run.get("experiment"), "step": step or None,
                                  "status": run.get("status"), "inputs": {}, "outputs": [],
                                  "workspace": {"name": self.services.workspace.name,
                                                "subscription_id": self.services.workspace.subscription_id,
                                                "resource_group": self.services.workspace.resource_group,
                                                "location": self.services.workspace.location}}
        if step:
            row = self.services.runs.runs.get_entity(pipeline_run, step_key(step))
            answer["status"] = row.get("status")
            spec = self.services.load_spec(run["graph_id"])
            parent = row.get("parent_step")  # a child run (a HyperDrive trial) has its step's inputs and outputs
            if parent:
                answer["parent_id"] = f"{pipeline_run}_{parent}"
            try:
                doc = spec.step(parent or step)
            except Exception:
                raise NotFoundError(f"step {step!r} is not in the spec of run {pipeline_run}") from None
            answer["inputs"] = {d: entry["kind"] if (entry := spec.data.get(d)) else None for d in doc.get("inputs", [])}
            params = run.get("parameters") or {}
            answer["tabular_inputs"] = {d: resolved_dataset(entry, params).get("definition")
                                        for d in doc.get("inputs", [])
                                        if (entry := spec.data.get(d)) and entry["kind"] == "dataset"
                                        and entry.get("dataset_type") == "tabular"}
            for data_id, read_as in (doc.get("tabular_inputs") or {}).items():  # outputs read as tables
                answer["tabular_inputs"][data_id] = {"paths": [], **read_as}
            names = doc.get("input_names") or {}  # the step's own names for inputs the spec keyed apart
            if names:
                answer["inputs"] = {names.get(d, d): kind for d, kind in answer["inputs"].items()}
                answer["tabular_inputs"] = {names.get(d, d): v for d, v in answer["tabular_inputs"].items()}
            answer["outputs"] = list(doc.get("outputs", []))
        return answer
