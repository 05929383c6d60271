"""AML v1 ``Model``: the model registry (register, get, list, versions, tags, download, ``get_model_path``).

Versions count 1, 2, ... per name. A model is one file or one folder, as it
was registered. Inside a step the registry is reached through the step's run
context (the step holds no storage credential) and ``get_model_path``
answers a local copy the host keeps in its cache: the file itself when the
model is one file, else its folder, as AML does. Outside a step it needs a
workspace (``_workspace=``), or finds ``./azureml-models/{name}/{version}``.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import ModelNotFoundException
from pipeline_core.runcontext.names import check_model_name

LOCAL_MODELS_FOLDER = "azureml-models"


def _registry(workspace: Any) -> Any:
    """The registry of ``workspace``: its run context inside a step, else its storage."""
    backend = getattr(workspace, "_run_context_backend", None)
    if backend is not None:
        return backend
    if workspace is None:
        raise AmliteError("a workspace is needed here: pass the Workspace (Workspace.from_config()), or call this "
                          "inside a step, where run.experiment.workspace is the step's")
    from pipeline_core.engine.services import services_for
    from pipeline_core.runcontext.store_backend import StoreBackend

    return StoreBackend(services_for(workspace.storage))


def _step_registry() -> Any:
    from pipeline_core.runcontext.client import context_backend

    return context_backend()


class Model:
    """One registered version of a model (``Model(ws, name)`` is the latest)."""

    def __init__(self, workspace: Any, name: str | None = None, id: str | None = None,  # noqa: A002 - AML's name
                 tags: Any = None, properties: Any = None, version: int | None = None, run_id: str | None = None,
                 model_framework: str | None = None, expand: bool = True, **kwargs: Any):
        if id:
            name, _, text = id.rpartition(":")
            if not name or not text.isdigit():
                raise AmliteError(f"model id {id!r} is invalid: use 'name:version', e.g. 'my-model:3'")
            version = int(text)
        if not name and not (tags or properties or run_id):
            raise AmliteError("Model(workspace, name) needs a name (or id='name:version', or tags/properties)")
        backend = _registry(workspace)
        found = backend.find_models(name or None, int(version) if version is not None else None, tags, properties,
                                    False, run_id)
        if model_framework:
            found = [r for r in found if r.get("framework") == model_framework]
        if not found:
            what = f"model {name!r}" + (f" version {version}" if version is not None else "")
            raise ModelNotFoundException(f"{what} matching tags={tags!r} properties={properties!r} is not registered"
                                         if (tags or properties) else f"{what} is not registered; register it with "
                                         "Model.register(workspace, model_path, model_name) or run.register_model(...)")
        newest = max(found, key=lambda r: (r["name"] == name, int(r["version"]), r.get("created_time") or ""))
        self._fill(workspace, newest)

    def _fill(self, workspace: Any, record: dict[str, Any]) -> None:
        self.workspace = workspace
        self._record = dict(record)
        self.name: str = record["name"]
        self.version: int = int(record["version"])
        self.tags: dict[str, str] = dict(record.get("tags") or {})
        self.properties: dict[str, str] = dict(record.get("properties") or {})
        self.description: str = record.get("description") or ""
        self.created_time: str = record.get("created_time") or ""
        self.run_id: str | None = record.get("run_id") or None
        self.experiment_name: str | None = record.get("experiment_name") or None
        self.model_framework: str | None = record.get("framework") or None
        self.model_framework_version: str | None = record.get("framework_version") or None
        self.datasets: list[Any] = list(record.get("datasets") or [])

    @classmethod
    def _from_record(cls, workspace: Any, record: dict[str, Any]) -> Model:
        model = cls.__new__(cls)
        model._fill(workspace, record)
        return model

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def url(self) -> str:
        return f"aml://asset/{self.name}/{self.version}"

    # -- registry ----------------------------------------------------------------------
    @staticmethod
    def register(workspace: Any, model_path: str, model_name: str, tags: dict[str, Any] | None = None,
                 properties: dict[str, Any] | None = None, description: str | None = None,
                 datasets: list[Any] | None = None, model_framework: str | None = None,
                 model_framework_version: str | None = None, child_paths: list[str] | None = None,
                 sample_input_dataset: Any = None, sample_output_dataset: Any = None,
                 resource_configuration: Any = None, **kwargs: Any) -> Model:
        """Register a local file or folder as the next version of ``model_name``."""
        check_model_name(model_name)
        print(f"Registering model {model_name}")
        fields = {"tags": tags, "properties": properties, "description": description,
                  "model_framework": model_framework, "model_framework_version": model_framework_version,
                  "datasets": [list(d) if isinstance(d, tuple) else str(d) for d in datasets or []]}
        record = _registry(workspace).register_local(Path(model_path), model_name, child_paths, fields)
        return Model._from_record(workspace, record)

    @staticmethod
    def list(workspace: Any, name: str | None = None, tags: Any = None, properties: Any = None,
             run_id: str | None = None, latest: bool = False, expand: bool = True,
             **kwargs: Any) -> builtins.list[Model]:
        """Registered versions, newest first per name; ``latest`` keeps only the newest of each name."""
        records = _registry(workspace).find_models(name, None, tags, properties, latest, run_id)
        return [Model._from_record(workspace, r) for r in records]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """A local path to the model: the file when it is one file, else its folder.

        Inside a step: a copy in the host's cache (downloaded once per machine). With ``_workspace``:
        the same, on this machine. Otherwise ``./azureml-models/{name}/{version or latest}/``.
        """
        backend = _registry(_workspace) if _workspace is not None else _step_registry()
        if backend is not None:
            path, _ = backend.local_model(model_name, int(version) if version is not None else None)
            return path
        return _local_model_path(model_name, version)

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None) -> str:
        """Copy the model into ``target_dir``; returns the path of its file or folder there."""
        allowed = exist_ok if exists_ok is None else bool(exists_ok)
        return str(_registry(self.workspace).download_model(self._record, Path(target_dir), allowed))

    def add_tags(self, tags: dict[str, Any]) -> None:
        self._update(add_tags=dict(tags))

    def remove_tags(self, tags: builtins.list[str]) -> None:
        self._update(remove_tags=[str(t) for t in tags])

    def add_properties(self, properties: dict[str, Any]) -> None:
        self._update(add_properties=dict(properties))

    def update(self, tags: dict[str, Any] | None = None, description: str | None = None, **kwargs: Any) -> None:
        """Replace the tags (when given) and the description (when given)."""
        remove = [t for t in self.tags if tags is not None and t not in tags]
        self._update(add_tags=dict(tags or {}), remove_tags=remove, description=description)

    def update_tags_properties(self, add_tags: dict[str, Any] | None = None,
                               remove_tags: builtins.list[str] | None = None,
                               add_properties: dict[str, Any] | None = None,
                               remove_properties: builtins.list[str] | None = None) -> None:
        if remove_properties:
            raise AmliteError("properties cannot be removed once added; use tags for values that change")
        self._update(add_tags=add_tags, remove_tags=remove_tags, add_properties=add_properties)

    def _update(self, **changes: Any) -> None:
        record = _registry(self.workspace).update_model(self.name, self.version, **changes)
        self._fill(self.workspace, record)

    def delete(self) -> None:
        _registry(self.workspace).delete_model(self.name, self.version)

    def serialize(self) -> dict[str, Any]:
        """AML's dictionary form (``Model.deserialize`` reads it back)."""
        return {"createdTime": self.created_time, "description": self.description, "id": self.id,
                "name": self.name, "version": self.version, "tags": dict(self.tags),
                "properties": dict(self.properties), "runId": self.run_id, "experimentName": self.experiment_name,
                "framework": self.model_framework, "frameworkVersion": self.model_framework_version,
                "url": self.url, "mimeType": "application/octet-stream",
                "datasets": list(self.datasets), "resourceConfiguration": None}

    @staticmethod
    def deserialize(workspace: Any, model_payload: dict[str, Any]) -> Model:
        return Model(workspace, id=str(model_payload["id"]))

    def __repr__(self) -> str:
        return (f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, version={self.version}, "
                f"tags={self.tags}, properties={self.properties})")


def _local_model_path(model_name: str, version: int | None) -> str:
    """AML's offline lookup: ``./azureml-models/{name}/{version}/`` (the newest version without one)."""
    check_model_name(model_name)
    base = Path(LOCAL_MODELS_FOLDER) / model_name
    versions = sorted((int(p.name) for p in base.iterdir() if p.name.isdigit()), reverse=True) \
        if base.is_dir() else []
    if version is not None:
        versions = [v for v in versions if v == int(version)]
    if not versions:
        raise ModelNotFoundException(
            f"model {model_name!r}" + (f" version {version}" if version is not None else "")
            + f" was not found: outside a step pass the workspace (Model.get_model_path({model_name!r}, "
            f"_workspace=ws)) or put it at ./{LOCAL_MODELS_FOLDER}/{model_name}/<version>/")
    folder = base / str(versions[0])
    entries = list(folder.iterdir())
    return str(entries[0] if len(entries) == 1 else folder)


__all__ = ["Model"]
