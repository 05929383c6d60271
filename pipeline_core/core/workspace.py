"""``Workspace``: where runs, data and published pipelines live (AML v1 name and ``from_config``).

A workspace here is a storage account (run state in Tables, data in Blobs) and,
optionally, the URL of an amlite Functions app. With no config at all it is
local: Azurite on this machine, started on demand.

Which of the two serves the SDK's calls is decided once per workspace:
``workspace.backend`` is a :class:`~pipeline_core.backend.WorkspaceBackend`,
local (storage + use cases) or remote (the REST API), and every SDK class calls
it without asking which.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline_core.backend import WorkspaceBackend, open_backend
from pipeline_core.core.authentication import ServicePrincipalAuthentication
from pipeline_core.core.datastore import BUILTIN, DATASTORES_TABLE, Datastore
from pipeline_core.errors import AmliteError
from pipeline_core.storage.account import StorageAccount, get_account
from pipeline_core.storage.dataset_store import DatasetStore

LOCAL_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"  # AML's samples print and join these
LOCAL_RESOURCE_GROUP = "amlite-local"
LOCAL_LOCATION = "local"
CONFIG_FIELDS = ("endpoint", "storage", "tenant_id", "client_id", "scope", "client_secret_env")
ENV_OVERRIDES = {
    "endpoint": "AMLITE_ENDPOINT",
    "storage": "AMLITE_STORAGE",
    "tenant_id": "AMLITE_TENANT_ID",
    "client_id": "AMLITE_CLIENT_ID",
    "scope": "AMLITE_SCOPE",
}


def find_config(path: str | None = None, file_name: str = "config.json") -> Path | None:
    """Search like AML: the path (file or folder), its ``.azureml/``, then each parent folder."""
    start = Path(path or ".").resolve()
    if start.is_file():
        return start
    for folder in [start, *start.parents]:
        for candidate in (folder / file_name, folder / ".azureml" / file_name):
            if candidate.is_file():
                return candidate
    return None


class Workspace:
    """AML v1 ``Workspace``. ``subscription_id``/``resource_group`` are recorded for compatibility."""

    def __init__(self, subscription_id: str | None = None, resource_group: str | None = None,
                 workspace_name: str | None = None, auth: Any = None, storage: str | None = None,
                 endpoint: str | None = None, tenant_id: str | None = None, client_id: str | None = None,
                 scope: str | None = None, client_secret_env: str | None = None, location: str | None = None,
                 **_: Any):
        self.subscription_id = subscription_id or LOCAL_SUBSCRIPTION_ID
        self.resource_group = resource_group or LOCAL_RESOURCE_GROUP
        self.location = location or LOCAL_LOCATION
        self.name = workspace_name or "local"
        self._auth = auth
        self.storage = storage or os.environ.get("AMLITE_STORAGE") or "UseDevelopmentStorage=true"
        self.endpoint = (endpoint or os.environ.get("AMLITE_ENDPOINT") or "").rstrip("/") or None
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.scope = scope
        self.client_secret_env = client_secret_env
        self._default_datastore = "workspaceblobstore"
        self._compute_targets: dict[str, Any] = {}

    @classmethod
    def from_config(cls, path: str | None = None, auth: Any = None, _logger: Any = None,
                    _file_name: str | None = None) -> Workspace:
        """Read ``config.json`` (AML's search order); ``AMLITE_*`` variables override it; none at all = local."""
        found = find_config(path, _file_name or "config.json")
        values: dict[str, Any] = {}
        if found is not None:
            try:
                values = json.loads(found.read_text())
            except json.JSONDecodeError as exc:
                raise AmliteError(f"workspace config {str(found)!r} is not valid JSON: {exc}") from None
            if not isinstance(values, dict):
                raise AmliteError(f"workspace config {str(found)!r} must hold a JSON object")
        elif path is not None and not Path(path).exists():
            raise AmliteError(f"workspace config path {path!r} does not exist")
        for key, var in ENV_OVERRIDES.items():
            if os.environ.get(var):
                values[key] = os.environ[var]
        return cls(subscription_id=values.get("subscription_id"), resource_group=values.get("resource_group"),
                   workspace_name=values.get("workspace_name"), auth=auth, location=values.get("location"),
                   **{k: values.get(k) for k in CONFIG_FIELDS})

    @classmethod
    def get(cls, name: str, auth: Any = None, subscription_id: str | None = None,
            resource_group: str | None = None, **kwargs: Any) -> Workspace:
        return cls(subscription_id, resource_group, name, auth, **kwargs)

    # -- where things live ------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.endpoint is None

    @cached_property
    def backend(self) -> WorkspaceBackend:
        """Where the SDK's calls go, chosen once (on first use, from ``endpoint``): the REST API of the Functions
        app when there is one, else this workspace's storage. Later changes to ``endpoint`` do not move it."""
        return open_backend(self.endpoint, self.storage, self._request_auth,
                            (self.subscription_id, self.resource_group, self.name))

    def _request_auth(self) -> Any:
        """What REST requests are signed with, or None. First found wins:

        1. the ``auth`` object (``InteractiveLoginAuthentication``, ``ServicePrincipalAuthentication``,
           ``MsiAuthentication`` or anything with ``get_authentication_header()``), as AML v1 takes
           ``Workspace(auth=...)``;
        2. a service principal from the config when it names ``client_secret_env``
           (``ServicePrincipalAuthentication.from_config``), so a CI job needs only config.json plus the
           secret's variable;
        3. nothing: a dev host or app running with ``AMLITE_AUTH=none``.
        """
        if self._auth is not None:
            if not callable(getattr(self._auth, "get_authentication_header", None)):
                raise AmliteError(f"Workspace auth {type(self._auth).__name__} has no get_authentication_header(); "
                                  "use InteractiveLoginAuthentication, ServicePrincipalAuthentication or "
                                  "MsiAuthentication from pipeline_core.core.authentication")
            return self._auth
        if self.client_secret_env:
            config = {"tenant_id": self.tenant_id, "client_id": self.client_id, "scope": self.scope,
                      "client_secret_env": self.client_secret_env}
            self._auth = ServicePrincipalAuthentication.from_config(config)  # built once: it caches its tokens
        return self._auth

    @property
    def account(self) -> StorageAccount:
        account = get_account(self.storage)
        if account.is_local:
            from pipeline_core.storage.local import ensure_local_storage

            ensure_local_storage(account)
        return account

    def get_default_datastore(self) -> Datastore:
        return Datastore.get(self, self._default_datastore)

    def set_default_datastore(self, name: str) -> None:
        Datastore.get(self, name)
        self._default_datastore = name

    @property
    def datastores(self) -> dict[str, Datastore]:
        found = {name: Datastore(self, name, container) for name, container in BUILTIN.items()}
        for row in self.account.table(DATASTORES_TABLE).query_entities("PartitionKey eq 'datastore'"):
            found[row["RowKey"]] = Datastore.from_row(self, row["RowKey"], row)
        return found

    @property
    def compute_targets(self) -> dict[str, Any]:
        return dict(self._compute_targets)

    def _register_compute(self, target: Any) -> None:
        self._compute_targets[target.name] = target

    def _forget_compute(self, name: str) -> None:
        self._compute_targets.pop(name, None)

    @property
    def datasets(self) -> dict[str, Any]:
        """Registered datasets by name, each its latest version (AML's ``ws.datasets``)."""
        from pipeline_core.core.dataset import Dataset  # datasets take a Workspace: made on use

        return {name: Dataset.get_by_name(self, name) for name in DatasetStore(self.account).names()}

    @property
    def experiments(self) -> dict[str, Any]:
        """Experiments that have runs here, by name (AML's ``ws.experiments``)."""
        from pipeline_core.core.experiment import Experiment  # it submits SDK pipelines: made on use

        return {e.name: e for e in Experiment.list(self)}

    def get_details(self) -> dict[str, Any]:
        return {"id": f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                      f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}",
                "name": self.name, "location": self.location, "endpoint": self.endpoint, "local": self.is_local,
                "subscription_id": self.subscription_id, "resource_group": self.resource_group}

    def __repr__(self) -> str:
        where = self.endpoint or "local"
        return f"Workspace.create(name={self.name!r}, endpoint={where!r})"
