"""Database datastores (Azure SQL Database, Azure Database for PostgreSQL / MySQL), the AML v1 way.

Why a separate class: a database datastore has no container; it names a server,
a database and a login, and DataTransferStep reads or writes it through
SQLAlchemy (``pipeline_core.transfer.sql``). Registrations live in the same
``datastores`` table as the Blob ones, so ``Datastore.get`` finds both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace

#: datastore_type -> (SQLAlchemy dialect+driver, default port, Azure host suffix)
ENGINES: dict[str, tuple[str, int, str]] = {
    "AzurePostgreSql": ("postgresql+psycopg", 5432, "postgres.database.azure.com"),
    "AzureMySql": ("mysql+pymysql", 3306, "mysql.database.azure.com"),
    "AzureSqlDatabase": ("mssql+pyodbc", 1433, "database.windows.net"),
}


class DatabaseDatastore:
    """A database under a name. ``host`` is ``server_name`` itself when it is a host name or address,
    else ``{server_name}.{endpoint}`` (how AML builds the Azure server's name)."""

    def __init__(self, workspace: Workspace, name: str, datastore_type: str, server_name: str,
                 database_name: str, user_id: str | None = None, user_password: str | None = None,
                 port_number: int | None = None, endpoint: str | None = None, enforce_ssl: bool = False):
        if datastore_type not in ENGINES:
            raise AmliteError(f"datastore type {datastore_type!r} is not a database type ({', '.join(ENGINES)})")
        self.workspace = workspace
        self.name = name
        self.datastore_type = datastore_type
        self.server_name = server_name
        self.database_name = database_name
        self.user_id = user_id
        self.user_password = user_password
        self.port_number = int(port_number) if port_number else ENGINES[datastore_type][1]
        self.endpoint = endpoint or ENGINES[datastore_type][2]
        self.enforce_ssl = enforce_ssl

    @property
    def host(self) -> str:
        server = self.server_name
        if server == "localhost" or "." in server or ":" in server:
            return server
        return f"{server}.{self.endpoint}"

    def row(self) -> dict[str, Any]:
        return {"datastore_type": self.datastore_type, "server_name": self.server_name,
                "database_name": self.database_name, "user_id": self.user_id or "",
                "user_password": self.user_password or "", "port_number": self.port_number,
                "endpoint": self.endpoint, "enforce_ssl": self.enforce_ssl}

    @classmethod
    def from_row(cls, workspace: Workspace, name: str, row: dict[str, Any]) -> DatabaseDatastore:
        return cls(workspace, name, row["datastore_type"], row["server_name"], row["database_name"],
                   row.get("user_id") or None, row.get("user_password") or None, row.get("port_number"),
                   row.get("endpoint"), bool(row.get("enforce_ssl")))

    def __repr__(self) -> str:  # never the password
        return (f"{self.datastore_type}Datastore(name={self.name!r}, server={self.host!r}, "
                f"database={self.database_name!r})")

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "datastore_type": self.datastore_type}


def register_database(workspace: Workspace, store: DatabaseDatastore, overwrite: bool) -> DatabaseDatastore:
    """Keep ``store`` in the ``datastores`` table; a different registration under the name needs ``overwrite``."""
    from azure.core.exceptions import ResourceNotFoundError

    from pipeline_core.core.datastore import BUILTIN, DATASTORES_TABLE

    if store.name in BUILTIN:
        raise AmliteError(f"datastore name {store.name!r} is built in; choose another name")
    if not store.server_name or not store.database_name:
        raise AmliteError(f"datastore {store.name!r} needs server_name and database_name")
    table = workspace.account.table(DATASTORES_TABLE)
    entity = {"PartitionKey": "datastore", "RowKey": store.name, "container_name": "", **store.row()}
    if not overwrite:
        try:
            existing = table.get_entity("datastore", store.name)
        except ResourceNotFoundError:
            existing = None
        if existing is not None and any(existing.get(k) != v for k, v in store.row().items()):
            raise AmliteError(f"datastore {store.name!r} is already registered differently; "
                              "pass overwrite=True to change it")
    table.upsert_entity(entity)
    return store
