"""Database <-> Blob against real PostgreSQL and MariaDB servers and Azurite."""

from __future__ import annotations

import io
import uuid

import pandas as pd
import pytest
import sqlalchemy

from pipeline_core.core import Datastore
from pipeline_core.core.database_datastore import DatabaseDatastore
from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.errors import AmliteError
from pipeline_core.transfer import database_identity, engine_for, export_to_blob, import_from_blob

pytestmark = pytest.mark.integration


def _table(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _fill_postgres(store: DatabaseDatastore, table: str, rows: int) -> None:
    with engine_for(store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} (id integer primary key, name text, score double precision)"))
        conn.execute(sqlalchemy.text(f"INSERT INTO {table} SELECT g, 'row-' || g, g * 0.5 FROM generate_series(1, {rows}) g"))


def test_postgres_table_to_parquet_on_blob_reads_back_with_pandas(workspace, postgres_store) -> None:
    table = _table("sales")
    _fill_postgres(postgres_store, table, 2500)
    container = workspace.get_default_datastore()._container
    seen: list[int] = []
    result = export_to_blob(SqlDataReference(postgres_store, sql_table=table), postgres_store, container,
                            f"exports/{table}.parquet", format="parquet", chunk_rows=1000, progress=seen.append)
    assert result.rows == 2500 and seen == [1000, 2000, 2500]  # streamed in chunks, not one fetch
    frame = pd.read_parquet(io.BytesIO(container.download_blob(f"exports/{table}.parquet").readall()))
    assert list(frame.columns) == ["id", "name", "score"]
    assert len(frame) == 2500 and frame["score"].sum() == pytest.approx(sum(i * 0.5 for i in range(1, 2501)))
    assert frame.loc[frame["id"] == 7, "name"].item() == "row-7"


def test_mariadb_query_to_csv(workspace, mariadb_store) -> None:
    table = _table("people")
    with engine_for(mariadb_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} (id int primary key, city varchar(20), age int)"))
        conn.execute(sqlalchemy.text(f"INSERT INTO {table} VALUES (1,'Oslo',31),(2,'Lima',45),(3,'Oslo',28),(4,'Pune',52)"))
    container = workspace.get_default_datastore()._container
    reference = SqlDataReference(mariadb_store, sql_query=f"SELECT city, count(*) AS n, max(age) AS oldest "
                                                          f"FROM {table} GROUP BY city ORDER BY city")
    result = export_to_blob(reference, mariadb_store, container, f"exports/{table}.csv", format="csv", chunk_rows=2)
    text = container.download_blob(f"exports/{table}.csv").readall().decode()
    assert result.rows == 3
    assert text.splitlines() == ["city,n,oldest", "Lima,1,45", "Oslo,2,31", "Pune,1,52"]


def test_csv_on_blob_into_a_postgres_table(workspace, postgres_store) -> None:
    container = workspace.get_default_datastore()._container
    name = f"imports/{uuid.uuid4().hex[:8]}/measurements.csv"
    lines = ["station,reading"] + [f"s{i % 7},{i * 1.25}" for i in range(1, 301)]
    container.upload_blob(name, "\n".join(lines).encode())
    table = _table("measurements")
    result = import_from_blob(container, name, postgres_store, table, chunk_rows=64)
    assert result.rows == 300
    with engine_for(postgres_store) as engine, engine.connect() as conn:
        count, total = conn.execute(sqlalchemy.text(f"SELECT count(*), sum(reading) FROM {table}")).one()
        s3 = conn.execute(sqlalchemy.text(f"SELECT count(*) FROM {table} WHERE station = 's3'")).scalar_one()
    assert count == 300 and total == pytest.approx(sum(i * 1.25 for i in range(1, 301)))
    assert s3 == len([i for i in range(1, 301) if i % 7 == 3])


def test_parquet_round_trip_into_mariadb_replaces_the_table(workspace, postgres_store, mariadb_store) -> None:
    source = _table("src")
    _fill_postgres(postgres_store, source, 120)
    container = workspace.get_default_datastore()._container
    export_to_blob(SqlDataReference(postgres_store, sql_table=source), postgres_store, container,
                   f"rt/{source}.parquet")
    target = _table("dst")
    import_from_blob(container, f"rt/{source}.parquet", mariadb_store, target, if_exists="replace", chunk_rows=50)
    import_from_blob(container, f"rt/{source}.parquet", mariadb_store, target, if_exists="replace", chunk_rows=50)
    with engine_for(mariadb_store) as engine, engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(f"SELECT count(*), max(name) FROM {target}")).one() == (120, "row-99")


def test_identity_changes_with_the_rows_and_only_then(workspace, postgres_store, mariadb_store) -> None:
    table = _table("ident")
    _fill_postgres(postgres_store, table, 50)
    by_table = SqlDataReference(postgres_store, sql_table=table)
    by_query = SqlDataReference(postgres_store, sql_query=f"SELECT id, name FROM {table} WHERE id < 10")
    first, first_query = database_identity(by_table, postgres_store), database_identity(by_query, postgres_store)
    assert database_identity(by_table, postgres_store) == first
    with engine_for(postgres_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"UPDATE {table} SET name = 'changed' WHERE id = 40"))
    assert database_identity(by_table, postgres_store) != first
    assert database_identity(by_query, postgres_store) == first_query  # row 40 is outside the query
    with engine_for(mariadb_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} (id int primary key, v int)"))
        conn.execute(sqlalchemy.text(f"INSERT INTO {table} VALUES (1, 1)"))
    maria = SqlDataReference(mariadb_store, sql_table=table)
    before = database_identity(maria, mariadb_store)
    with engine_for(mariadb_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"UPDATE {table} SET v = 2"))
    assert database_identity(maria, mariadb_store) != before
    assert database_identity(SqlDataReference(postgres_store, sql_stored_procedure="refresh"), postgres_store) is None


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_failed_export_leaves_no_blob(workspace, postgres_store, format: str) -> None:
    container = workspace.get_default_datastore()._container
    name = f"exports/{uuid.uuid4().hex[:8]}.{format}"
    with pytest.raises(sqlalchemy.exc.ProgrammingError):
        export_to_blob(SqlDataReference(postgres_store, sql_query="SELECT * FROM no_such_table"), postgres_store,
                       container, name, format=format)
    # fails after chunks were written: the rows streamed so far must not appear as a truncated file
    seen: list[int] = []
    with pytest.raises(sqlalchemy.exc.DataError, match="division by zero"):
        export_to_blob(SqlDataReference(postgres_store, sql_query="SELECT g, 1 / (g - 2500) AS r "
                                                                  "FROM generate_series(1, 3000) g"),
                       postgres_store, container, name, format=format, chunk_rows=500, progress=seen.append)
    assert seen and seen[-1] >= 500
    assert not container.get_blob_client(name).exists()


def test_registrations_resolve_by_name_and_bad_references_are_named(workspace, postgres_store) -> None:
    found = Datastore.get(workspace, "pgstore")
    assert isinstance(found, DatabaseDatastore) and found.port_number == postgres_store.port_number
    assert "amlite-test-pw" not in repr(found)
    assert isinstance(workspace.datastores["pgstore"], DatabaseDatastore)
    with pytest.raises(AmliteError, match="exactly one of"):
        SqlDataReference(postgres_store, sql_table="t", sql_query="SELECT 1")
    with pytest.raises(AmliteError, match="is not a name"):
        SqlDataReference(postgres_store, sql_table="t; DROP TABLE x")
    with pytest.raises(AmliteError, match="already registered differently"):
        Datastore.register_azure_postgre_sql(workspace, "pgstore", "other.example", "db", "u", "p")


def test_a_large_export_holds_about_one_chunk_in_memory(workspace, postgres_store, monkeypatch) -> None:
    """Memory follows the chunk and block sizes, not the table's: 1 MiB blocks, a 20+ MB export."""
    import tracemalloc

    monkeypatch.setattr("pipeline_core.transfer.block_writer.BLOCK_SIZE", 1024 * 1024)
    table = _table("wide")
    with engine_for(postgres_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} AS SELECT g AS id, repeat('x', 100) || g AS payload "
                                     "FROM generate_series(1, 200000) g"))
    container = workspace.get_default_datastore()._container
    name = f"exports/{table}.csv"
    tracemalloc.start()
    try:
        result = export_to_blob(SqlDataReference(postgres_store, sql_table=table), postgres_store, container, name,
                                format="csv", chunk_rows=2000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = container.get_blob_client(name).get_blob_properties().size
    assert result.rows == 200_000 and size > 20_000_000
    # A whole-table export holds at least the full text (>= size); tracemalloc also counts the storage client's
    # buffers on other threads, which varied 4-5 MB between machines, so the bound is a third of the export.
    assert peak < size / 3, f"peak Python memory {peak} bytes for a {size}-byte export: rows were not streamed"
