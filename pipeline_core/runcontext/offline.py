"""What ``Run.get_context()`` is outside a step: AML's offline run, which prints and never fails."""

from __future__ import annotations

import sys
import uuid
from typing import Any

from pipeline_core.core.run import Run
from pipeline_core.errors import AmliteError
from pipeline_core.runcontext import values as metric_values
from pipeline_core.runcontext.names import check_metric_name
from pipeline_core.status import RunStatus


class _OfflineRun(Run):
    """What ``Run.get_context()`` is outside a step: prints what it is given, keeps metrics in memory."""

    def __init__(self) -> None:
        super().__init__(None, f"OfflineRun_{uuid.uuid4()}")  # type: ignore[arg-type]
        self._metrics: list[tuple[str, str, Any]] = []
        self._tags: dict[str, str] = {}
        self._properties: dict[str, str] = {}

    def _details(self) -> dict[str, Any]:
        return {"id": self._records_id, "status": RunStatus.RUNNING, "inputs": {}, "outputs": []}

    def _say(self, text: str) -> None:
        print(text, file=sys.stdout, flush=True)

    def _log_metric(self, name: str, kind: str, value: Any, description: str = "") -> None:
        try:
            check_metric_name(name)
            recorded = metric_values.record_value(kind, value, name)
        except AmliteError as exc:
            self._say(f"Attempted to log metric {name!r}, which would fail in a run: {exc}")
            return
        self._metrics.append((name, kind, recorded))
        label = {"scalar": "scalar metric", "list": "list metric", "row": "row metric", "table": "table metric",
                 "image": "image", "json": "metric"}[kind]
        self._say(f"Attempted to log {label} {name}:\n{recorded}")

    def log_image(self, name: str, path: str | None = None, plot: Any = None, description: str = "") -> None:
        self._say(f"Attempted to log image metric {name}:\n{path if path is not None else plot}")

    def flush(self, timeout_seconds: int = 300) -> None:
        pass

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        merged = metric_values.merge(self._metrics)
        merged = {k: v for k, v in merged.items() if name is None or k == name}
        return {self._records_id: merged} if recursive else merged

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._tags.update({str(k): "" if v is None else str(v) for k, v in dict(tags).items()})
        self._say(f"Attempted to set tags {tags}")

    def remove_tags(self, tags: list[str]) -> None:
        for name in tags:
            self._tags.pop(str(name), None)

    def get_tags(self) -> dict[str, str]:
        return dict(self._tags)

    def add_properties(self, properties: dict[str, Any]) -> None:
        self._properties.update({str(k): "" if v is None else str(v) for k, v in dict(properties).items()})
        self._say(f"Attempted to add properties {properties}")

    def get_properties(self) -> dict[str, str]:
        return dict(self._properties)

    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> None:
        self._say(f"Attempted to track file {name} at {path_or_stream}")

    def upload_folder(self, name: str, path: str, datastore_name: str | None = None) -> None:
        self._say(f"Attempted to track folder {name} at {path}")

    def get_file_names(self) -> list[str]:
        return []

    def download_file(self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False) -> None:
        self._say(f"Attempted to download file {name}: an offline run has no files")

    def download_files(self, prefix: str | None = None, output_directory: str | None = None,
                       output_paths: list[str] | None = None, batch_size: int = 100, append_prefix: bool = True,
                       timeout_seconds: int | None = None) -> None:
        self._say("Attempted to download files: an offline run has no files")

    def register_model(self, model_name: str, model_path: str | None = None, *args: Any, **kwargs: Any) -> Any:
        self._say(f"Attempted to register model {model_name} from {model_path or model_name}: an offline run "
                  "registers nothing (use Model.register(workspace, ...) outside a run)")
        return None

    @property
    def experiment(self) -> Any:
        return None

    @property
    def parent(self) -> Run | None:
        return None

    @property
    def type(self) -> str:
        return "offline"

    def get_status(self) -> str:
        return RunStatus.RUNNING

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        self._say(f"Attempted to fail the offline run: {error_details or error_code or ''}")

    def __repr__(self) -> str:
        return f"_OfflineRun(id={self._records_id!r})"


__all__ = ["_OfflineRun"]
