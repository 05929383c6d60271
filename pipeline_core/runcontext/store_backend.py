"""The run records and model registry of a workspace's storage, behind the same calls as the step's channel.

``Run``, ``StepRun``, ``PipelineRun`` and ``Model`` are written once against
this interface: outside a step they get a ``StoreBackend`` (the driver, or the
host serving a step), inside one the ``client.ChannelBackend``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

from pipeline_core.engine.services import Services
from pipeline_core.runcontext.records import RunRecords
from pipeline_core.storage.model_store import ModelRecord, ModelStore, registration_fields


class StoreBackend:
    in_step = False  # the caller holds the storage account itself
    def __init__(self, services: Services):
        self.services = services
        self.records = RunRecords(services)
        self._counter = 0

    @property
    def models(self) -> ModelStore:
        return self.records.models

    # -- run records -------------------------------------------------------------------
    def log(self, run_id: str, name: str, kind: str, value: Any, description: str = "") -> None:
        self._counter += 1
        sequence = f"{time.time_ns():020d}-driver-{self._counter:08d}"
        self.records.log_metrics(run_id, [{"name": name, "kind": kind, "value": value, "seq": sequence,
                                           "description": description}])

    def flush(self) -> None:
        """Driver-side metrics are written at once."""

    def get_metrics(self, run_id: str, recursive: bool = False) -> dict[str, dict[str, Any]]:
        return self.records.get_metrics(run_id, recursive)

    def details(self, run_id: str) -> dict[str, Any]:
        return self.records.details(run_id)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.records.set_tags(run_id, tags)

    def remove_tags(self, run_id: str, names: list[str]) -> None:
        self.records.remove_tags(run_id, names)

    def add_properties(self, run_id: str, properties: dict[str, Any]) -> None:
        self.records.add_properties(run_id, properties)

    def tags_and_properties(self, run_id: str) -> dict[str, dict[str, str]]:
        return self.records.tags_and_properties(run_id)

    def upload(self, run_id: str, name: str, data: bytes | IO[bytes], length: int) -> str:
        return self.records.upload(run_id, name, data, length)

    def file_names(self, run_id: str) -> list[str]:
        return self.records.file_names(run_id)

    def download(self, run_id: str, name: str, target: Path) -> Path:
        return self.records.artifacts.download(run_id, name, target)

    def register_model(self, run_id: str, model_name: str, model_path: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self.records.register_model(run_id, model_name, model_path, **fields).to_dict()

    # -- models ------------------------------------------------------------------------
    def find_models(self, name: str | None = None, version: int | None = None, tags: Any = None,
                    properties: Any = None, latest: bool = False, run_id: str | None = None) -> list[dict[str, Any]]:
        if version is not None:
            return [self.models.get(name or "", int(version)).to_dict()]
        return [r.to_dict() for r in self.models.find(name, tags, properties, latest, run_id)]

    def local_model(self, name: str, version: int | None) -> tuple[str, dict[str, Any]]:
        record = self.models.get(name, version)
        return str(self.models.local_copy(record)), record.to_dict()

    def register_local(self, path: Path, model_name: str, child_paths: list[str] | None,
                       fields: dict[str, Any]) -> dict[str, Any]:
        uid = self.models.new_uid()
        root, is_file = self.models.upload_local(model_name, uid, path, child_paths)
        record = ModelRecord(name=model_name, version=0, uid=uid, root=root, is_file=is_file,
                             **registration_fields(fields))
        return self.models.create_version(record).to_dict()

    def download_model(self, record: dict[str, Any], target_dir: Path, exist_ok: bool) -> Path:
        return self.models.download(ModelRecord.from_dict(record), target_dir, exist_ok)

    def update_model(self, name: str, version: int, **changes: Any) -> dict[str, Any]:
        return self.models.update(name, version, **changes).to_dict()

    def delete_model(self, name: str, version: int) -> None:
        self.models.delete(self.models.get(name, version))
