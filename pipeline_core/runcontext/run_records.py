"""AML's ``Run`` record methods, shared by ``Run`` (in a step or not), ``StepRun`` and ``PipelineRun``.

Metrics, tags, properties, files and ``register_model`` of one run, written once against a
backend: ``runcontext.client.ChannelBackend`` inside a step, ``runcontext.store_backend.
StoreBackend`` (the workspace's storage) outside one. Values and names are checked here, at
the call, so a step sees its own mistake where it made it.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import ModelPathNotFoundException
from pipeline_core.runcontext import values as metric_values
from pipeline_core.runcontext.names import check_artifact_name, check_metric_name, check_tag, local_path

if TYPE_CHECKING:
    from pipeline_core.core.model import Model
    from pipeline_core.core.workspace import Workspace


def _stream_of(path_or_stream: Any) -> tuple[IO[bytes], int, bool]:
    """(readable, length, close it?) for a file path or an open binary stream."""
    if isinstance(path_or_stream, (str, os.PathLike)):
        handle = open(path_or_stream, "rb")
        return handle, os.fstat(handle.fileno()).st_size, True
    if hasattr(path_or_stream, "read"):
        data = path_or_stream.read()
        data = data.encode() if isinstance(data, str) else bytes(data)
        return io.BytesIO(data), len(data), True
    raise AmliteError(f"path_or_stream must be a file path or a readable stream, not {type(path_or_stream).__name__}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"


class RunRecordsMixin:
    """Metrics, tags, properties, files and model registration of one run (AML's ``Run`` methods).

    Subclasses give ``_records_backend()`` (storage, or the step's channel), ``_records_id`` (the AML
    run id) and ``_records_workspace()`` (for the ``Model`` that ``register_model`` returns).
    """

    _records_id: str

    def _records_backend(self) -> Any:
        raise NotImplementedError

    def _records_workspace(self) -> Workspace:
        raise NotImplementedError

    # -- metrics -----------------------------------------------------------------------
    def _log_metric(self, name: str, kind: str, value: Any, description: str = "") -> None:
        check_metric_name(name)
        recorded = metric_values.record_value(kind, value, name)
        metric_values.encode(recorded, name)  # refuse an oversized value here, not in a background flush
        self._records_backend().log(self._records_id, name, kind, recorded, description or "")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a value; logging one name again makes it a series (``get_metrics`` returns the list)."""
        self._log_metric(name, metric_values.SCALAR, value, description)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._log_metric(name, metric_values.LIST, list(value) if not isinstance(value, (str, bytes)) else value,
                  description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """One row of a table metric: ``run.log_row("curve", x=1, y=0.4)``."""
        self._log_metric(name, metric_values.ROW, kwargs, description or "")

    def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
        self._log_metric(name, metric_values.TABLE, value, description)

    def _log_json(self, name: str, value: Any, description: str = "") -> None:
        self._log_metric(name, metric_values.JSON, value, description)

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value, description)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value, description)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value, description)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._log_json(name, value, description)

    def log_image(self, name: str, path: str | None = None, plot: Any = None, description: str = "") -> None:
        """An image file, or a matplotlib figure (or ``pyplot``) saved as PNG, stored with the run's files."""
        check_metric_name(name)
        if (path is None) == (plot is None):
            raise AmliteError(f"log_image {name!r}: give exactly one of path= (an image file) or plot= (a "
                              "matplotlib figure or pyplot)")
        if plot is not None:
            if not callable(getattr(plot, "savefig", None)):
                raise AmliteError(f"log_image {name!r}: plot must be a matplotlib figure or pyplot (with savefig)")
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            data, extension = buffer.getvalue(), "png"
        else:
            data = Path(str(path)).read_bytes()
            extension = (Path(str(path)).suffix.lstrip(".") or "png").lower()
        artifact = f"images/{_slug(name)}_{time.time_ns()}.{extension}"
        stored = self._records_backend().upload(self._records_id, artifact, io.BytesIO(data), len(data))
        self._log_metric(name, metric_values.IMAGE,
                  f"{metric_values.ARTIFACT_ID_PREFIX}{self._records_id}/{stored}", description)

    def flush(self, timeout_seconds: int = 300) -> None:
        """Send the metrics logged so far now (they are otherwise sent within a second)."""
        self._records_backend().flush()

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        """``{name: value}``; with ``recursive``, ``{run id: {name: value}}`` for this run and its step runs."""
        found = self._records_backend().get_metrics(self._records_id, recursive)
        if name is not None:
            found = {rid: {k: v for k, v in m.items() if k == name} for rid, m in found.items()}
        if recursive:
            return {rid: m for rid, m in found.items() if m}
        return dict(found.get(self._records_id, {}))

    # -- tags and properties -----------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        checked = dict(check_tag(k, v) for k, v in dict(tags).items())
        self._records_backend().set_tags(self._records_id, checked)

    def remove_tags(self, tags: list[str]) -> None:
        self._records_backend().remove_tags(self._records_id, [str(t) for t in tags])

    def get_tags(self) -> dict[str, str]:
        return dict(self._records_backend().tags_and_properties(self._records_id)["tags"])

    def add_properties(self, properties: dict[str, Any]) -> None:
        checked = dict(check_tag(k, v, "property") for k, v in dict(properties).items())
        self._records_backend().add_properties(self._records_id, checked)

    def get_properties(self) -> dict[str, str]:
        return dict(self._records_backend().tags_and_properties(self._records_id)["properties"])

    # -- files ---------------------------------------------------------------------------
    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> None:
        """Store a file with the run as ``name`` (a relative path such as ``outputs/model.pkl``)."""
        name = check_artifact_name(name)
        stream, length, close = _stream_of(path_or_stream)
        try:
            self._records_backend().upload(self._records_id, name, stream, length)
        finally:
            if close:
                stream.close()

    def upload_files(self, names: list[str], paths: list[str], return_artifacts: bool = False,
                     timeout_seconds: int | None = None, datastore_name: str | None = None) -> None:
        if len(names) != len(paths):
            raise AmliteError(f"upload_files: {len(names)} names but {len(paths)} paths; give one name per path")
        for name, path in zip(names, paths):
            self.upload_file(name, path)

    def upload_folder(self, name: str, path: str, datastore_name: str | None = None) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise AmliteError(f"upload_folder: {path!r} is not a folder")
        prefix = check_artifact_name(name.rstrip("/"))
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.upload_file(f"{prefix}/{file.relative_to(folder).as_posix()}", str(file))

    def get_file_names(self) -> list[str]:
        return self._records_backend().file_names(self._records_id)

    def download_file(self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False) -> None:
        """To ``output_file_path`` (a file, or a folder to put it in), or to its base name here."""
        name = check_artifact_name(name)
        base = name.rsplit("/", 1)[-1]
        target = Path(output_file_path) if output_file_path else Path(base)
        if target.is_dir():
            target = target / base
        self._records_backend().download(self._records_id, name, target)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None,
                       output_paths: list[str] | None = None, batch_size: int = 100, append_prefix: bool = True,
                       timeout_seconds: int | None = None) -> None:
        """Every file under ``prefix`` into ``output_directory`` (names checked: none leaves it)."""
        folder = Path(output_directory or ".")
        names = [n for n in self.get_file_names() if not prefix or n.startswith(prefix)]
        if output_paths is not None and len(output_paths) != len(names):
            raise AmliteError(f"download_files: {len(names)} files match but {len(output_paths)} output_paths")
        for index, name in enumerate(names):
            if output_paths is not None:
                target = Path(output_paths[index])
            else:
                relative = name if append_prefix or not prefix else name[len(prefix):].lstrip("/") or name
                target = local_path(folder, relative)
            self._records_backend().download(self._records_id, name, target)

    # -- models --------------------------------------------------------------------------
    def register_model(self, model_name: str, model_path: str | None = None, tags: dict[str, Any] | None = None,
                       properties: dict[str, Any] | None = None, model_framework: str | None = None,
                       model_framework_version: str | None = None, description: str | None = None,
                       datasets: list[Any] | None = None, sample_input_dataset: Any = None,
                       sample_output_dataset: Any = None, resource_configuration: Any = None,
                       **kwargs: Any) -> Model:
        """Register a file or folder of this run's uploaded files (``model_path``; default ``model_name``).

        A path not uploaded yet but present in the step's working folder (``outputs/model.pkl``
        written a moment ago) is uploaded first; AML would upload ``outputs/`` when the run ends.
        """
        from pipeline_core.core.model import Model

        path = check_artifact_name((model_path or model_name).rstrip("/"), "model_path")
        fields = {"tags": tags, "properties": properties, "model_framework": model_framework,
                  "model_framework_version": model_framework_version, "description": description,
                  "datasets": [list(d) if isinstance(d, tuple) else str(d) for d in datasets or []]}
        backend = self._records_backend()
        try:
            record = backend.register_model(self._records_id, model_name, path, fields)
        except ModelPathNotFoundException:
            local = Path(path)
            if not (getattr(backend, "in_step", False) and local.exists()):
                raise
            if local.is_dir():
                self.upload_folder(path, str(local))
            else:
                self.upload_file(path, str(local))
            record = backend.register_model(self._records_id, model_name, path, fields)
        return Model._from_record(self._records_workspace(), record)
