"""One entry point for DataTransferStep: resolve its source and destination, pick the transfer, run it.

Why here and not in the step kind: the step's executor (built later on the
step execution context) should only hand over the two references and a log
line sink; which of the three transfers applies (Blob -> Blob server-side copy,
database -> Blob export, Blob -> database import) and how the reference types
shape paths is decided once, here, and tested without an orchestrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.storage.blob import ContainerClient

from pipeline_core.core.database_datastore import DatabaseDatastore
from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.errors import AmliteError
from pipeline_core.storage.blobs import list_prefix
from pipeline_core.transfer.blob_copy import blob_identity, copy_blobs
from pipeline_core.transfer.sql import CHUNK_ROWS, Format, database_identity, export_to_blob, import_from_blob

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace

REFERENCE_TYPES = (None, "file", "directory")
Log = Callable[[str], None]


@dataclass(frozen=True)
class BlobEndpoint:
    datastore_name: str
    container: ContainerClient
    path: str


@dataclass(frozen=True)
class SqlEndpoint:
    datastore: DatabaseDatastore
    reference: SqlDataReference


@dataclass
class TransferResult:
    kind: str                          # "blob-copy", "export" or "import"
    destinations: list[str] = field(default_factory=list)
    bytes: int = 0
    rows: int = 0


Endpoint = BlobEndpoint | SqlEndpoint


def resolve(workspace: Workspace, reference: Any) -> Endpoint:
    """A DataReference, DataPath or SqlDataReference as the container/path or database it names."""
    if isinstance(reference, SqlDataReference):
        return sql_endpoint(workspace, reference)
    if not hasattr(reference, "path_on_datastore") or not hasattr(reference, "datastore_name"):
        raise AmliteError(f"{type(reference).__name__} is not a transfer endpoint: use a DataReference, a DataPath "
                          "or a SqlDataReference")
    return blob_endpoint(workspace, reference.datastore_name, reference.path_on_datastore)


def sql_endpoint(workspace: Workspace, reference: SqlDataReference) -> SqlEndpoint:
    """The database a SqlDataReference reads or writes (its datastore must be a database datastore)."""
    from pipeline_core.core.datastore import Datastore

    store = Datastore.get(workspace, reference.datastore_name)
    if not isinstance(store, DatabaseDatastore):
        raise AmliteError(f"SqlDataReference {reference.data_reference_name!r} names datastore "
                          f"{reference.datastore_name!r}, which is a Blob datastore; register the database "
                          "with Datastore.register_azure_postgre_sql/_my_sql/_sql_database")
    return SqlEndpoint(store, reference)


def blob_endpoint(workspace: Workspace, datastore_name: str, path: str | None) -> BlobEndpoint:
    """A path on a Blob (or ADLS Gen2) datastore; a database datastore is refused, naming SqlDataReference."""
    from pipeline_core.core.datastore import Datastore

    store = Datastore.get(workspace, datastore_name)
    if isinstance(store, DatabaseDatastore):
        raise AmliteError(f"datastore {datastore_name!r} is a database: refer to it with "
                          "SqlDataReference(datastore, sql_table=... or sql_query=...)")
    return BlobEndpoint(store.name, store._container, (path or "").strip("/"))


def _check_type(label: str, value: str | None) -> None:
    if value not in REFERENCE_TYPES:
        raise AmliteError(f"{label}={value!r} is not a reference type: use 'file' or 'directory'")


def transfer(workspace: Workspace, source: Any, destination: Any, *, source_reference_type: str | None = None,
             destination_reference_type: str | None = None, log: Log | None = None,
             chunk_rows: int = CHUNK_ROWS) -> TransferResult:
    """Run the transfer DataTransferStep describes and return what it wrote (see ``transfer_between``)."""
    _check_type("source_reference_type", source_reference_type)
    _check_type("destination_reference_type", destination_reference_type)
    return transfer_between(resolve(workspace, source), resolve(workspace, destination),
                            source_reference_type=source_reference_type,
                            destination_reference_type=destination_reference_type, log=log, chunk_rows=chunk_rows)


def transfer_between(src: Endpoint, dst: Endpoint, *, source_reference_type: str | None = None,
                     destination_reference_type: str | None = None, log: Log | None = None,
                     chunk_rows: int = CHUNK_ROWS, metadata: dict[str, str] | None = None) -> TransferResult:
    """Move data between two resolved endpoints.

    Blob -> Blob: server-side copies (a file, or a folder keeping its layout). Database ->
    Blob: the selected rows as Parquet when the destination ends in ``.parquet``, else CSV;
    a ``directory`` destination (or one without an extension) gets ``<reference name>.csv``
    inside it (``<reference name>`` itself when it ends in ``.parquet`` or ``.csv``). Blob -> database: rows appended to the destination's ``sql_table``.
    ``metadata`` is set on every blob written (DataTransferStep tags them with its attempt).
    """
    _check_type("source_reference_type", source_reference_type)
    _check_type("destination_reference_type", destination_reference_type)
    say = log or (lambda _line: None)
    if isinstance(src, BlobEndpoint) and isinstance(dst, BlobEndpoint):
        if source_reference_type == "file":
            found = list_prefix(src.container, src.path)
            if [name for name, _e, _s in found] != [src.path]:
                raise AmliteError(f"source_reference_type='file' but {src.path!r} on {src.datastore_name!r} is not "
                                  "one blob; use 'directory' to copy a folder")

        def copy_progress(done: int, total: int) -> None:
            say(f"copied {done} of {total} bytes ({100 * done // max(total, 1)}%)")

        copied = copy_blobs(src.container, src.path, dst.container, dst.path,
                            destination_is_directory=destination_reference_type == "directory",
                            progress=copy_progress, metadata=metadata)
        say(f"copied {len(copied.files)} blob(s) server-side from {src.datastore_name}/{src.path} "
            f"to {dst.datastore_name}/{dst.path}")
        return TransferResult("blob-copy", [f.destination for f in copied.files], bytes=copied.bytes)
    if isinstance(src, SqlEndpoint) and isinstance(dst, BlobEndpoint):
        path = dst.path
        last = path.rsplit("/", 1)[-1]
        if destination_reference_type == "directory" or "." not in last:
            name = src.reference.data_reference_name  # "orders.parquet" picks the format, else "<name>.csv"
            file_name = name if name.lower().endswith((".csv", ".parquet")) else f"{name}.csv"
            path = f"{path}/{file_name}" if path else file_name
        kind: Format = "parquet" if path.lower().endswith(".parquet") else "csv"
        exported = export_to_blob(src.reference, src.datastore, dst.container, path, format=kind,
                                  chunk_rows=chunk_rows, progress=lambda rows: say(f"exported {rows} rows"),
                                  metadata=metadata)
        say(f"exported {exported.rows} rows from {src.datastore.name} to {dst.datastore_name}/{path} as {kind}")
        return TransferResult("export", [path], rows=exported.rows)
    if isinstance(src, BlobEndpoint) and isinstance(dst, SqlEndpoint):
        table = dst.reference.sql_table
        if not table:
            raise AmliteError("a database destination is a table: SqlDataReference(datastore, sql_table='...')")
        imported = import_from_blob(src.container, src.path, dst.datastore, table, chunk_rows=chunk_rows,
                                    progress=lambda rows: say(f"loaded {rows} rows"))
        say(f"loaded {imported.rows} rows from {src.datastore_name}/{src.path} into {dst.datastore.name}.{table}")
        return TransferResult("import", [table], rows=imported.rows)
    raise AmliteError("DataTransferStep cannot copy between two databases directly: export to a Blob datastore "
                      "in one step and load it in the next")


def source_identity(workspace: Workspace, source: Any) -> str | None:
    """The reuse key of a transfer's source (``None``: it cannot be known, so never reuse)."""
    src = resolve(workspace, source)
    if isinstance(src, SqlEndpoint):
        return database_identity(src.reference, src.datastore)
    return blob_identity(src.container, src.path)
