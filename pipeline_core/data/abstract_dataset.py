"""What file and tabular datasets share (AML v1 ``azureml.data.abstract_dataset``).

A dataset here is a *definition* (datastore paths with globs, a format,
``partition_format``) plus, once registered, a name and a version. The
definition travels inside the pipeline spec, so a run reads exactly the
version it was built with; the blobs it matches are fingerprinted at run time
so changed data reruns the steps that consume it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

from pipeline_core.data.dataset_paths import DatasetFile, list_files
from pipeline_core.errors import AmliteError, NotFoundError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig

DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$")


class AbstractDataset:
    """Base of ``FileDataset`` and ``TabularDataset``; not created directly (use ``Dataset.File`` / ``Dataset.Tabular``)."""

    dataset_type = "abstract"

    def __init__(self, definition: dict[str, Any], workspace: Workspace | None = None,
                 registration: dict[str, Any] | None = None):
        self._definition = definition
        self._workspace = workspace
        self._registration = dict(registration or {})

    # -- identity --------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._registration.get("name")

    @property
    def version(self) -> int | None:
        return self._registration.get("version")

    @property
    def id(self) -> str | None:
        return self._registration.get("id")

    @property
    def description(self) -> str | None:
        return self._registration.get("description")

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._registration.get("tags") or {})

    @property
    def definition(self) -> dict[str, Any]:
        return copy.deepcopy(self._definition)

    @property
    def partition_keys(self) -> list[str]:
        from pipeline_core.data.partition_format import partition_keys_of

        fmt = self._definition.get("partition_format")
        return partition_keys_of(fmt) if fmt else []

    def _definition_hash(self) -> str:
        canonical = json.dumps(self._definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _default_input_name(self) -> str:
        if self.name:
            cleaned = re.sub(r"[^A-Za-z0-9_]", "_", self.name)
            return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"ds_{cleaned}"
        return f"dataset_{self._definition_hash()[:8]}"

    # -- where it lives ----------------------------------------------------------
    def _resolve_workspace(self, workspace: Workspace | None = None) -> Workspace:
        found = workspace or self._workspace
        if found is None:
            from pipeline_core.core.workspace import Workspace

            found = Workspace.from_config()
        return found

    def _files(self, workspace: Workspace | None = None) -> list[DatasetFile]:
        from pipeline_core.core.datastore import Datastore

        ws = self._resolve_workspace(workspace)
        return list_files(lambda name: Datastore.get(ws, name)._container, self._definition["paths"])

    def _validate(self) -> None:
        """AML's ``validate=True``: the paths must match at least one blob now (the first match answers)."""
        from pipeline_core.core.datastore import Datastore
        from pipeline_core.data.dataset_paths import matches_any

        ws = self._resolve_workspace(None)
        if not matches_any(lambda name: Datastore.get(ws, name)._container, self._definition["paths"]):
            shown = ", ".join(f"{p['datastore']}:{p['path']}" for p in self._definition["paths"])
            raise AmliteError(f"no blobs match the dataset path(s) {shown}; upload the data first "
                              "(Datastore.upload) or pass validate=False")

    # -- AML v1 API ----------------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)

    def register(self, workspace: Workspace, name: str, description: str | None = None,
                 tags: dict[str, str] | None = None, create_new_version: bool = False) -> AbstractDataset:
        """Register under ``name``; the same definition as the latest version returns that version unchanged."""
        from pipeline_core.storage.dataset_store import DatasetStore

        if not isinstance(name, str) or not DATASET_NAME_RE.match(name):
            raise AmliteError(f"dataset name {name!r} is invalid: use 1-250 letters, digits, '_', '.' or '-', "
                              "starting with a letter or digit")
        store = DatasetStore(workspace.account)
        for _ in range(10):
            latest = store.latest(name)
            if latest is not None and latest["definition"] == self._definition:
                return self._bound(workspace, latest)
            if latest is not None and not create_new_version:
                raise AmliteError(
                    f"a dataset named {name!r} is already registered (version {latest['version']}) with a "
                    f"different definition; pass create_new_version=True to register version "
                    f"{latest['version'] + 1}, or choose another name")
            version = (latest["version"] + 1) if latest else 1
            row = store.create_version(name, version, self.dataset_type, self._definition, description, tags)
            if row is not None:
                return self._bound(workspace, row)
            time.sleep(0.05)  # another registration took this version number: read again
        raise AmliteError(f"could not register dataset {name!r}: versions kept changing concurrently")

    def _bound(self, workspace: Workspace, row: dict[str, Any]) -> AbstractDataset:
        return type(self)(copy.deepcopy(row["definition"]), workspace, row)

    def __repr__(self) -> str:
        paths = ", ".join(f"({p['datastore']!r}, {p['path']!r})" for p in self._definition["paths"])
        label = f"name={self.name!r}, version={self.version}, " if self.name else ""
        return f"{type(self).__name__}({label}paths=[{paths}])"


def get_by_name(workspace: Workspace, name: str, version: str | int = "latest") -> AbstractDataset:
    """A registered version (``'latest'`` or a number), as the matching dataset class."""
    from pipeline_core.data.file_dataset import FileDataset
    from pipeline_core.data.tabular_dataset import TabularDataset
    from pipeline_core.storage.dataset_store import DatasetStore

    store = DatasetStore(workspace.account)
    if version in ("latest", None):
        row = store.latest(name)
    else:
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise AmliteError(f"dataset version {version!r} is invalid: pass 'latest' or a version number") from None
        row = store.get(name, number)
        if row is None and store.latest(name) is not None:
            have = ", ".join(str(r["version"]) for r in store.versions(name))
            raise NotFoundError(f"dataset {name!r} has no version {number}; its versions: {have}")
    if row is None:
        known = ", ".join(store.names()) or "none"
        raise NotFoundError(f"no dataset named {name!r} is registered in this workspace (registered: {known}); "
                            "register it with dataset.register(workspace, name)")
    cls = TabularDataset if row["dataset_type"] == "tabular" else FileDataset
    return cls(row["definition"], workspace, row)


def workspace_of(path: Any) -> Workspace | None:
    """The workspace of the first ``Datastore`` object among the given paths (they carry one)."""
    items = path if isinstance(path, list) else [path]
    for item in items:
        store = item[0] if isinstance(item, tuple) and item else None
        ws = getattr(store, "workspace", None)
        if ws is not None:
            return ws  # type: ignore[no-any-return]
    return None
