"""``Datastore``: a named Blob container, the AML v1 way (``workspaceblobstore`` by default).

Registrations live in the ``datastores`` table of the workspace's account, so a
published pipeline running in Azure resolves the same names a laptop did.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from pipeline_core._warnings import warn_ignored
from pipeline_core.core.database_datastore import ENGINES, DatabaseDatastore, register_database
from pipeline_core.data.data_reference import DataReference
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.storage.account import StorageAccount, get_account

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from pipeline_core.core.workspace import Workspace

DATASTORES_TABLE = "datastores"
DEFAULT_DATASTORE = "workspaceblobstore"
PIPELINEDATA_DATASTORE = "pipelinedata"
BUILTIN = {DEFAULT_DATASTORE: "workspaceblobstore", PIPELINEDATA_DATASTORE: "pipelinedata"}


class Datastore:
    """A Blob container under a name. ``upload``/``download`` move folders; ``path()`` makes a DataReference."""

    datastore_type = "AzureBlob"

    def __init__(self, workspace: Workspace, name: str | None = None, container_name: str | None = None,
                 account_name: str | None = None, storage: str | None = None):
        self.workspace = workspace
        self.name: str = name or DEFAULT_DATASTORE
        self.container_name: str
        self.account_name: str | None
        self._storage: str | None
        if container_name is None:
            found = Datastore.get(workspace, self.name)
            container_name, account_name, storage = found.container_name, found.account_name, found._storage
        self.container_name = container_name
        # A datastore in the workspace's own account names that account, as AML's do (samples print it).
        self.account_name = account_name or (None if storage else _workspace_account_name(workspace))
        self._storage = storage

    # -- AML v1 class methods -------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Any:
        """The Blob (or ADLS Gen2) ``Datastore``, or a ``DatabaseDatastore`` for a database registration."""
        if datastore_name in BUILTIN:
            return Datastore(workspace, datastore_name, BUILTIN[datastore_name])
        try:
            row = workspace.account.table(DATASTORES_TABLE).get_entity("datastore", datastore_name)
        except ResourceNotFoundError:
            known = ", ".join(sorted(workspace.datastores)) or "none"
            raise NotFoundError(
                f"datastore {datastore_name!r} is not registered in this workspace (registered: {known}); "
                "register it with Datastore.register_azure_blob_container(...)"
            ) from None
        return Datastore.from_row(workspace, datastore_name, row)

    @staticmethod
    def from_row(workspace: Workspace, datastore_name: str, row: Any) -> Any:
        """The datastore a ``datastores`` table row registers: Blob, ADLS Gen2 or a database."""
        if row.get("datastore_type") in ENGINES:
            return DatabaseDatastore.from_row(workspace, datastore_name, row)
        store = Datastore(workspace, datastore_name, row["container_name"], row.get("account_name"),
                          row.get("storage") or None)
        store.datastore_type = row.get("datastore_type") or Datastore.datastore_type
        return store

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return workspace.get_default_datastore()

    @staticmethod
    def register_azure_blob_container(workspace: Workspace, datastore_name: str, container_name: str,
                                      account_name: str | None = None, sas_token: str | None = None,
                                      account_key: str | None = None, protocol: str | None = None,
                                      endpoint: str | None = None, overwrite: bool = False,
                                      create_if_not_exists: bool = False, skip_validation: bool = False,
                                      blob_cache_timeout: int | None = None,
                                      grant_workspace_access: bool = False,
                                      subscription_id: str | None = None,
                                      resource_group: str | None = None) -> Datastore:
        """Register a container. Same account as the workspace unless ``account_name`` names another one.

        Another account is reached with ``account_key`` or ``sas_token`` (kept in the
        workspace's ``datastores`` table, as AML keeps them in the workspace) or, with
        neither, keylessly through ``DefaultAzureCredential``.
        """
        if datastore_name in BUILTIN:
            raise AmliteError(f"datastore name {datastore_name!r} is built in; choose another name")
        if not container_name or container_name != container_name.lower() or not (3 <= len(container_name) <= 63):
            raise AmliteError(
                f"container_name {container_name!r} is invalid: Blob container names are 3-63 lowercase "
                "letters, digits and hyphens"
            )
        storage: str | None = None
        if account_name and not (workspace.account.is_local and account_name == "devstoreaccount1"):
            suffix = (endpoint or "core.windows.net").strip(".")
            proto = protocol or "https"
            if account_key:
                storage = (f"DefaultEndpointsProtocol={proto};AccountName={account_name};AccountKey={account_key};"
                           f"EndpointSuffix={suffix}")
            elif sas_token:
                storage = (f"BlobEndpoint={proto}://{account_name}.blob.{suffix};"
                           f"SharedAccessSignature={sas_token.lstrip('?')}")
            else:
                storage = f"{proto}://{account_name}.blob.{suffix}"
        table = workspace.account.table(DATASTORES_TABLE)
        entity = {"PartitionKey": "datastore", "RowKey": datastore_name, "container_name": container_name,
                  "account_name": account_name or "", "storage": storage or ""}
        if not overwrite:
            try:
                existing = table.get_entity("datastore", datastore_name)
                if existing["container_name"] != container_name or (existing.get("storage") or "") != (storage or ""):
                    raise AmliteError(
                        f"datastore {datastore_name!r} is already registered for container "
                        f"{existing['container_name']!r}; pass overwrite=True to change it"
                    )
            except ResourceNotFoundError:
                pass
        table.upsert_entity(entity)
        store = Datastore(workspace, datastore_name, container_name, account_name, storage)
        if create_if_not_exists or workspace.account.is_local:
            store._account.container(container_name)
        elif not skip_validation and not store._container.exists():
            raise AmliteError(
                f"container {container_name!r} does not exist in account {account_name or 'of the workspace'}; "
                "create it or pass create_if_not_exists=True"
            )
        return store

    @staticmethod
    def register_azure_data_lake_gen2(workspace: Workspace, datastore_name: str, filesystem: str,
                                      account_name: str | None = None, tenant_id: str | None = None,
                                      client_id: str | None = None, client_secret: str | None = None,
                                      resource_url: str | None = None, authority_url: str | None = None,
                                      protocol: str | None = None, endpoint: str | None = None,
                                      overwrite: bool = False, subscription_id: str | None = None,
                                      resource_group: str | None = None, grant_workspace_access: bool = False,
                                      account_key: str | None = None) -> Datastore:
        """An ADLS Gen2 filesystem, reached through its account's Blob endpoint (a filesystem is a container).

        Gen2 accounts answer the Blob API on ``{account}.blob.{suffix}``, so reads, writes and the
        server-side copies of DataTransferStep use it as a Blob container; locally that is Azurite's
        account. A service principal (``tenant_id``/``client_id``/``client_secret``) is not stored:
        the app reaches the account keylessly (its managed identity, ``DefaultAzureCredential``), so
        grant that identity "Storage Blob Data Contributor" on the account instead.
        """
        if client_secret:
            warn_ignored("register_azure_data_lake_gen2(client_secret=...)",
                         "The app reaches the account with its own identity (DefaultAzureCredential).")
        store = Datastore.register_azure_blob_container(
            workspace, datastore_name, filesystem, account_name=account_name, account_key=account_key,
            protocol=protocol, endpoint=endpoint, overwrite=overwrite, create_if_not_exists=workspace.account.is_local)
        workspace.account.table(DATASTORES_TABLE).update_entity(
            {"PartitionKey": "datastore", "RowKey": datastore_name, "datastore_type": "AzureDataLakeGen2"})
        store.datastore_type = "AzureDataLakeGen2"
        return store

    @staticmethod
    def register_azure_postgre_sql(workspace: Workspace, datastore_name: str, server_name: str, database_name: str,
                                   user_id: str, user_password: str, port_number: int | str | None = None,
                                   endpoint: str | None = None, overwrite: bool = False, enforce_ssl: bool = True,
                                   **kwargs: Any) -> DatabaseDatastore:
        """An Azure Database for PostgreSQL database (any PostgreSQL server: ``server_name`` may be a host)."""
        store = DatabaseDatastore(workspace, datastore_name, "AzurePostgreSql", server_name, database_name,
                                  user_id, user_password, int(port_number) if port_number else None, endpoint,
                                  enforce_ssl)
        return register_database(workspace, store, overwrite)

    @staticmethod
    def register_azure_my_sql(workspace: Workspace, datastore_name: str, server_name: str, database_name: str,
                              user_id: str, user_password: str, port_number: int | str | None = None,
                              endpoint: str | None = None, overwrite: bool = False,
                              **kwargs: Any) -> DatabaseDatastore:
        """An Azure Database for MySQL database (any MySQL or MariaDB server)."""
        store = DatabaseDatastore(workspace, datastore_name, "AzureMySql", server_name, database_name,
                                  user_id, user_password, int(port_number) if port_number else None, endpoint)
        return register_database(workspace, store, overwrite)

    @staticmethod
    def register_azure_sql_database(workspace: Workspace, datastore_name: str, server_name: str, database_name: str,
                                    tenant_id: str | None = None, client_id: str | None = None,
                                    client_secret: str | None = None, resource_url: str | None = None,
                                    authority_url: str | None = None, endpoint: str | None = None,
                                    overwrite: bool = False, username: str | None = None,
                                    password: str | None = None, subscription_id: str | None = None,
                                    resource_group: str | None = None, grant_workspace_access: bool = False,
                                    **kwargs: Any) -> DatabaseDatastore:
        """An Azure SQL database, with SQL authentication (``username``/``password``).

        Transfers need an ODBC driver for SQL Server on the app (``mssql+pyodbc``); without it a
        transfer fails naming what to install.
        """
        if not username or not password:
            raise AmliteError(f"register_azure_sql_database({datastore_name!r}): pass username= and password= "
                              "(SQL authentication); service principal logins are not supported")
        store = DatabaseDatastore(workspace, datastore_name, "AzureSqlDatabase", server_name, database_name,
                                  username, password, None, endpoint)
        return register_database(workspace, store, overwrite)

    def unregister(self) -> None:
        self.workspace.account.table(DATASTORES_TABLE).delete_entity("datastore", self.name)

    # -- data movement --------------------------------------------------------
    @property
    def _account(self) -> StorageAccount:
        return get_account(self._storage) if self._storage else self.workspace.account

    @property
    def _container(self) -> ContainerClient:
        return self._account.container(self.container_name)

    def upload(self, src_dir: str, target_path: str | None = None, overwrite: bool = False,
               show_progress: bool = True) -> DataReference:
        """Upload a folder's files under ``target_path``; returns a DataReference to that path."""
        root = Path(src_dir)
        if not root.is_dir():
            raise AmliteError(f"upload: src_dir {src_dir!r} is not a directory")
        files = [p for p in sorted(root.rglob("*")) if p.is_file()]
        self.upload_files([str(p) for p in files], relative_root=str(root), target_path=target_path,
                          overwrite=overwrite, show_progress=show_progress)
        return self.path(target_path or "")

    def upload_files(self, files: list[str], relative_root: str | None = None, target_path: str | None = None,
                     overwrite: bool = False, show_progress: bool = True) -> DataReference:
        container = self._container
        prefix = (target_path or "").strip("/")
        for file in files:
            path = Path(file)
            if not path.is_file():
                raise AmliteError(f"upload_files: {file!r} is not a file")
            rel = path.relative_to(relative_root).as_posix() if relative_root else path.name
            name = f"{prefix}/{rel}" if prefix else rel
            with open(path, "rb") as handle:
                try:
                    container.upload_blob(name, handle, overwrite=overwrite)
                except Exception as exc:  # ResourceExistsError without overwrite: AML skips existing files
                    if type(exc).__name__ != "ResourceExistsError":
                        raise
            if show_progress and os.environ.get("AMLITE_QUIET") != "1":
                print(f"Uploaded {file} -> {self.name}/{name}")
        return self.path(prefix)

    def download(self, target_path: str, prefix: str | None = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        """Download blobs under ``prefix`` into ``target_path`` keeping their paths; returns the count."""
        from pipeline_core.storage.blobs import download_prefix

        count = download_prefix(self._container, (prefix or "").strip("/"), Path(target_path),
                                overwrite=overwrite, keep_prefix=True)
        if show_progress and os.environ.get("AMLITE_QUIET") != "1":
            print(f"Downloaded {count} files from {self.name} to {target_path}")
        return count

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        return DataReference(self, data_reference_name, path or "")

    def as_mount(self) -> DataReference:
        return DataReference(self, None, "", mode="mount")

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return DataReference(self, None, "", mode="download", path_on_compute=path_on_compute)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "container_name": self.container_name})

    def __repr__(self) -> str:
        return f"AzureBlobDatastore(name={self.name!r}, container_name={self.container_name!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "container_name": self.container_name}


def check_data_path(workspace: Workspace, datastore: str, path: str | None) -> str | None:
    """Why a pipeline input cannot be read (unknown datastore, nothing at the path), or None when it can.

    ``path=None`` checks the datastore alone (a DataPath parameter default, which a submit may override).
    """
    from pipeline_core.storage.blobs import list_prefix

    try:
        store = Datastore.get(workspace, datastore)
    except NotFoundError as exc:
        return str(exc)
    if path is None or isinstance(store, DatabaseDatastore):
        return None
    if not list_prefix(store._container, path):
        return (f"no blobs found at {path!r} on datastore {datastore!r}; upload the data "
                "(Datastore.upload) or fix path_on_datastore")
    return None


def _workspace_account_name(workspace: Workspace) -> str | None:
    from pipeline_core.storage.account import account_name_of

    storage = getattr(workspace, "storage", None)
    return account_name_of(storage) if isinstance(storage, str) else None
