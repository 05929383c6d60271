"""AML v1 ``Run``: ``Run.get_context()`` inside a step, offline outside one; metrics, tags, files, models.

Inside a step the run is reached through the host's run context service (the
step holds no storage secret; see ``pipeline_core.runcontext.server``). Outside
one, ``Run.get_context()`` is an offline run that prints what it is given and
never fails, as AML's is; ``Run(experiment, run_id)`` and ``Run.get(ws, id)``
read and write a run in the workspace's storage. ``StepRun`` and
``PipelineRun`` share the record methods through ``RunRecordsMixin``.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import ModelPathNotFoundException, RunEnvironmentException
from pipeline_core.runcontext import values as metric_values
from pipeline_core.runcontext.names import check_artifact_name, check_metric_name, check_tag, local_path

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.model import Model
    from pipeline_core.core.workspace import Workspace

STEP_RUN_TYPE, PIPELINE_RUN_TYPE = "azureml.StepRun", "azureml.PipelineRun"


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


class _StepWorkspace:
    """``run.experiment.workspace`` inside a step: names only, and the run context for ``Model``.

    It has no storage: a step never holds the host's credentials. Datastores, datasets and
    published pipelines are reached from the driver, and data is passed to a step as its inputs.
    """

    def __init__(self, info: dict[str, Any], backend: Any):
        self.name = info.get("name") or "local"
        self.subscription_id = info.get("subscription_id") or ""
        self.resource_group = info.get("resource_group") or ""
        self.location = info.get("location") or ""
        self._run_context_backend = backend

    def __getattr__(self, name: str) -> Any:
        raise AmliteError(f"workspace.{name} is not available inside a step: a step holds no storage credential. "
                          "Use Run.get_context() for the run and Model(...)/Model.get_model_path(...) for models, "
                          "and pass data to the step as its inputs")

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, from=run context)"


class Run(RunRecordsMixin):
    """A run: inside a step, the step's own run (``Run.get_context()``); outside, a run in a workspace."""

    def __init__(self, experiment: Experiment, run_id: str, outputs: Any = None, **kwargs: Any):
        self._experiment: Experiment | None = experiment
        self._records_id = run_id
        self._backend: Any = kwargs.get("_backend")
        self._info: dict[str, Any] | None = kwargs.get("_info")

    # -- where it is -------------------------------------------------------------------
    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any) -> Run:
        """The step's run inside a step; outside one, an offline run (or RunEnvironmentException)."""
        from pipeline_core.runcontext.client import context_backend

        backend = context_backend()
        run_id = os.environ.get("AZUREML_RUN_ID")
        if backend is None or not run_id:
            if not allow_offline:
                raise RunEnvironmentException("Run.get_context(allow_offline=False) was called outside a step; "
                                              "only a running step has a run context")
            return _OfflineRun()
        return _step_run(backend, run_id)

    @staticmethod
    def get(workspace: Workspace, run_id: str) -> Run:
        """A pipeline run or step run (``{pipeline run id}_{step}``) of the workspace, by id."""
        from pipeline_core.core.experiment import Experiment
        from pipeline_core.engine.services import services_for
        from pipeline_core.runcontext.store_backend import StoreBackend

        backend = StoreBackend(services_for(workspace.storage))
        info = backend.details(run_id)
        return Run(Experiment(workspace, info["experiment"]), run_id, _backend=backend, _info=info)

    def _records_backend(self) -> Any:
        if self._backend is None:
            from pipeline_core.engine.services import services_for
            from pipeline_core.runcontext.store_backend import StoreBackend

            assert self._experiment is not None
            self._backend = StoreBackend(services_for(self._experiment.workspace.storage))
        return self._backend

    def _details(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._records_backend().details(self._records_id)
        return self._info

    def _records_workspace(self) -> Any:
        return self.experiment.workspace

    # -- AML's attributes ----------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._records_id

    @property
    def name(self) -> str:
        return str(self._details().get("step") or self._records_id)

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def type(self) -> str:
        return STEP_RUN_TYPE if self._details().get("step") else PIPELINE_RUN_TYPE

    @property
    def experiment(self) -> Experiment:
        if self._experiment is None:
            from pipeline_core.core.experiment import Experiment

            info = self._details()
            workspace: Any = _StepWorkspace(info.get("workspace") or {}, self._records_backend())
            self._experiment = Experiment(workspace, info["experiment"])
        return self._experiment

    @property
    def parent(self) -> Run | None:
        parent_id = self._details().get("parent_id")
        if not parent_id:
            return None
        return Run(self._experiment, parent_id, _backend=self._records_backend())  # type: ignore[arg-type]

    @property
    def tags(self) -> dict[str, str]:
        return self.get_tags()

    @property
    def properties(self) -> dict[str, str]:
        return self.get_properties()

    @property
    def status(self) -> str:
        return self.get_status()

    def get_status(self) -> str:
        self._info = None
        return str(self._details().get("status") or "")

    def get_details(self) -> dict[str, Any]:
        info = dict(self._details())
        return {"runId": self.id, "status": info.get("status"), "target": "local",
                "properties": self.get_properties(), "inputDatasets": list(info.get("inputs") or []),
                "outputDatasets": list(info.get("outputs") or [])}

    @property
    def input_datasets(self) -> dict[str, Any]:
        """Each named input of the step (``as_named_input``, PipelineData, DataReference): its local path."""
        found: dict[str, Any] = {}
        for name in self._details().get("inputs") or {}:
            path = os.environ.get(f"AZUREML_DATAREFERENCE_{name.replace(':', '_')}")
            if path is not None:
                found[name] = path
        return found

    @property
    def output_datasets(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in self._details().get("outputs") or []:
            path = os.environ.get(f"AZUREML_DATAREFERENCE_{name.replace(':', '_')}")
            if path is not None:
                found[name] = path
        return found

    # -- lifecycle: the step's exit code decides its status ---------------------------------
    def complete(self, _set_status: bool = True) -> None:
        self.flush()

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        """Recorded as the tag ``amlite.fail``; the step still ends by its exit code (raise or exit non-zero)."""
        self.tag("amlite.fail", str(error_details or error_code or "run.fail() was called"))
        self.flush()

    def cancel(self) -> None:
        self.flush()

    def start(self) -> None:
        """Runs here start when their step starts."""

    def __repr__(self) -> str:
        return f"Run(id={self._records_id!r}, type={self.type!r})"


_step_runs: dict[str, Run] = {}


def _step_run(backend: Any, run_id: str) -> Run:
    found = _step_runs.get(run_id)
    if found is None or found._backend is not backend:
        found = Run(None, run_id, _backend=backend)  # type: ignore[arg-type]
        _step_runs[run_id] = found
    return found


class _OfflineRun(Run):
    """What ``Run.get_context()`` is outside a step: prints what it is given, keeps metrics in memory."""

    def __init__(self) -> None:
        super().__init__(None, f"OfflineRun_{uuid.uuid4()}")  # type: ignore[arg-type]
        self._metrics: list[tuple[str, str, Any]] = []
        self._tags: dict[str, str] = {}
        self._properties: dict[str, str] = {}

    def _details(self) -> dict[str, Any]:
        return {"id": self._records_id, "status": "Running", "inputs": {}, "outputs": []}

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
        return "Running"

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        self._say(f"Attempted to fail the offline run: {error_details or error_code or ''}")

    def __repr__(self) -> str:
        return f"_OfflineRun(id={self._records_id!r})"


__all__ = ["Run", "RunRecordsMixin"]
