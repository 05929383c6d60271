"""Database <-> Blob for DataTransferStep: a table, query or stored procedure to CSV/Parquet, and back.

Rows are streamed: the database sends them through a server-side cursor
(``stream_results``), ``chunk_rows`` at a time, and each chunk is written into a
block blob that stages blocks as it fills (``BlockBlobWriter``). Loading a blob
into a table reads it chunk by chunk too (CSV in row chunks, Parquet by row
batches through ranged reads). Memory stays at about one chunk, whatever the
table's size.

SQLAlchemy 2 with psycopg 3 (PostgreSQL) and PyMySQL (MySQL, MariaDB); Azure
SQL Database goes through ``mssql+pyodbc`` and needs Microsoft's ODBC driver on
the app.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from azure.storage.blob import ContainerClient

from pipeline_core.core.database_datastore import ENGINES, DatabaseDatastore
from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.errors import AmliteError
from pipeline_core.storage.blobs import RangedBlob, list_prefix
from pipeline_core.transfer.block_writer import BlockBlobWriter

Format = Literal["csv", "parquet"]
#: Rows per chunk read from a cursor or written to a table.
CHUNK_ROWS = 10_000
RowProgress = Callable[[int], None]


@dataclass
class SqlTransferResult:
    rows: int = 0
    blobs: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def _import_sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:  # the app's requirements.txt installs it; a bare SDK install may not
        raise AmliteError("database transfers need SQLAlchemy and the drivers: pip install 'amlite[transfer]'") from exc
    return sqlalchemy


@contextmanager
def engine_for(datastore: DatabaseDatastore) -> Iterator[Any]:
    """A SQLAlchemy engine for the datastore, disposed (its connections closed) on exit."""
    sqlalchemy = _import_sqlalchemy()
    if not isinstance(datastore, DatabaseDatastore):
        raise AmliteError(f"datastore {getattr(datastore, 'name', datastore)!r} is not a database datastore; "
                          "register one with Datastore.register_azure_postgre_sql/_my_sql/_sql_database")
    dialect = ENGINES[datastore.datastore_type][0]
    query: dict[str, str] = {}
    if datastore.datastore_type == "AzurePostgreSql" and datastore.enforce_ssl:
        query["sslmode"] = "require"
    if datastore.datastore_type == "AzureSqlDatabase":
        query["driver"] = "ODBC Driver 18 for SQL Server"
    url = sqlalchemy.URL.create(dialect, username=datastore.user_id, password=datastore.user_password,
                                host=datastore.host, port=datastore.port_number,
                                database=datastore.database_name, query=query)
    try:
        engine = sqlalchemy.create_engine(url, pool_pre_ping=True)
    except ImportError as exc:
        raise AmliteError(f"datastore {datastore.name!r} needs the {dialect} driver: {exc}") from exc
    try:
        yield engine
    finally:
        engine.dispose()


def _quote(engine: Any, name: str) -> str:
    preparer = engine.dialect.identifier_preparer
    return ".".join(preparer.quote_identifier(part) for part in name.split("."))


def _statement(engine: Any, reference: SqlDataReference) -> tuple[Any, dict[str, Any]]:
    """The SELECT (or procedure call) a reference names, with bound parameters."""
    sqlalchemy = _import_sqlalchemy()
    if reference.sql_query:
        return sqlalchemy.text(reference.sql_query), {}
    if reference.sql_table:
        return sqlalchemy.text(f"SELECT * FROM {_quote(engine, reference.sql_table)}"), {}
    params = {f"p{i}": value for i, value in enumerate(reference.sql_stored_procedure_params)}
    placeholders = ", ".join(f":{key}" for key in params)
    procedure = _quote(engine, reference.sql_stored_procedure or "")
    call = {"postgresql": f"SELECT * FROM {procedure}({placeholders})",
            "mysql": f"CALL {procedure}({placeholders})",
            "mssql": f"EXEC {procedure} {placeholders}"}[engine.dialect.name]
    return sqlalchemy.text(call), params


@contextmanager
def _streamed_rows(datastore: DatabaseDatastore, reference: SqlDataReference,
                   chunk_rows: int) -> Iterator[tuple[list[str], Iterator[list[Any]]]]:
    """The column names and the rows in chunks, through a server-side cursor."""
    with engine_for(datastore) as engine, engine.connect() as connection:
        statement, params = _statement(engine, reference)
        result = connection.execution_options(stream_results=True, yield_per=chunk_rows).execute(statement, params)
        try:
            yield list(result.keys()), (list(part) for part in result.partitions(chunk_rows))
        finally:
            result.close()


def export_to_blob(reference: SqlDataReference, datastore: DatabaseDatastore, destination: ContainerClient,
                   path: str, *, format: Format = "parquet", chunk_rows: int = CHUNK_ROWS,
                   progress: RowProgress | None = None, metadata: dict[str, str] | None = None) -> SqlTransferResult:
    """Write what ``reference`` selects to the blob ``path`` as CSV (with a header row) or Parquet.

    The blob appears only once every row is written; ``progress(rows_so_far)`` after each chunk.
    ``metadata`` is set on the blob (a step's attempt tag).
    """
    if format not in ("csv", "parquet"):
        raise AmliteError(f"format {format!r} is not supported: use 'csv' or 'parquet'")
    name = path.strip("/")
    if not name:
        raise AmliteError("export_to_blob needs a blob path (e.g. 'exports/table.parquet')")
    writer = BlockBlobWriter(destination.get_blob_client(name), metadata=metadata)
    result = SqlTransferResult(blobs=[name])
    try:
        with _streamed_rows(datastore, reference, chunk_rows) as (columns, chunks):
            result.columns = columns
            write = _parquet_chunks if format == "parquet" else _csv_chunks
            for count in write(writer, columns, chunks):
                result.rows += count
                if progress is not None:
                    progress(result.rows)
        writer.commit()
    finally:
        if not writer.committed:
            writer.close()
    return result


def _csv_chunks(writer: BlockBlobWriter, columns: list[str], chunks: Iterator[list[Any]]) -> Iterator[int]:
    text = io.TextIOWrapper(cast(Any, writer), encoding="utf-8", newline="", write_through=True)
    rows = csv.writer(text)
    rows.writerow(columns)
    for chunk in chunks:
        rows.writerows(chunk)
        yield len(chunk)
    text.flush()
    text.detach()


def _parquet_chunks(writer: BlockBlobWriter, columns: list[str], chunks: Iterator[list[Any]]) -> Iterator[int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.PythonFile(writer, mode="w")
    parquet: Any = None
    schema: Any = None
    for chunk in chunks:
        data = {column: [row[i] for row in chunk] for i, column in enumerate(columns)}
        table = pa.table(data) if schema is None else pa.table(data, schema=schema)
        if parquet is None:
            schema = table.schema
            parquet = pq.ParquetWriter(sink, schema)
        parquet.write_table(table)
        yield len(chunk)
    if parquet is None:  # no rows: still a valid file, with the columns (typed as strings)
        schema = pa.schema([(column, pa.string()) for column in columns])
        parquet = pq.ParquetWriter(sink, schema)
    parquet.close()


def import_from_blob(source: ContainerClient, path: str, datastore: DatabaseDatastore, table: str, *,
                     format: Format | None = None, if_exists: Literal["append", "replace", "fail"] = "append",
                     chunk_rows: int = CHUNK_ROWS, progress: RowProgress | None = None) -> SqlTransferResult:
    """Load a CSV or Parquet blob (or every such blob under a folder, in name order) into ``table``.

    The table is created from the first chunk's columns when missing; ``if_exists``
    decides what happens to an existing one (``replace`` drops it first). All rows
    go in one transaction: a failure leaves the table as it was.
    """
    reference = SqlDataReference(datastore, sql_table=table)  # checks the name
    blobs = [(name, size) for name, _etag, size in list_prefix(source, path)]
    if not blobs:
        raise AmliteError(f"no blobs found at {path!r} in container {source.container_name!r}")
    result = SqlTransferResult(blobs=[name for name, _size in blobs])
    schema, _, table_name = (reference.sql_table or "").rpartition(".")
    with engine_for(datastore) as engine, engine.begin() as connection:
        first = True
        for name, size in blobs:
            kind = format or _format_of(name)
            for frame in _frames(source, name, size, kind, chunk_rows):
                frame.to_sql(table_name, connection, schema=schema or None, index=False,
                             if_exists=if_exists if first else "append")
                first = False
                result.rows += len(frame)
                result.columns = list(frame.columns)
                if progress is not None:
                    progress(result.rows)
    return result


def _format_of(name: str) -> Format:
    lowered = name.lower()
    if lowered.endswith(".parquet"):
        return "parquet"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    raise AmliteError(f"cannot tell the format of {name!r}: name it .csv or .parquet, or pass format=")


def _frames(source: ContainerClient, name: str, size: int, kind: Format, chunk_rows: int) -> Iterator[Any]:
    import pandas as pd

    if kind == "csv":
        stream = source.download_blob(name)
        yield from pd.read_csv(stream, chunksize=chunk_rows)
        return
    import pyarrow.parquet as pq

    with pq.ParquetFile(RangedBlob(source, name, size)) as parquet:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def database_identity(reference: SqlDataReference, datastore: DatabaseDatastore) -> str | None:
    """A reuse key for what ``reference`` selects: changes when its rows change.

    A table is checksummed by the server (PostgreSQL: a sum of row hashes; MySQL and
    MariaDB: ``CHECKSUM TABLE``); a query's rows are hashed as they stream. A stored
    procedure may change data, so it has no identity (``None``: never reused).
    """
    if reference.sql_stored_procedure:
        return None
    sqlalchemy = _import_sqlalchemy()
    digest = hashlib.sha256(f"{datastore.host}\0{datastore.port_number}\0{datastore.database_name}\0"
                            f"{reference.sql_table or ''}\0{reference.sql_query or ''}\n".encode())
    with engine_for(datastore) as engine:
        dialect = engine.dialect.name
        if reference.sql_table and dialect in ("postgresql", "mysql"):
            table = _quote(engine, reference.sql_table)
            statement = (f"SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0) "
                         f"FROM {table} AS t" if dialect == "postgresql" else f"CHECKSUM TABLE {table} EXTENDED")
            with engine.connect() as connection:
                row = connection.execute(sqlalchemy.text(statement)).one()
            digest.update(repr(tuple(row)).encode())
            return f"sql:{digest.hexdigest()}"
    with _streamed_rows(datastore, reference, CHUNK_ROWS) as (columns, chunks):
        digest.update(repr(columns).encode())
        for chunk in chunks:
            for row in chunk:
                digest.update(repr(tuple(row)).encode() + b"\n")
    return f"sql:{digest.hexdigest()}"
