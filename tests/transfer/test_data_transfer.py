"""DataTransferStep's entry point: references in, the right transfer run, paths shaped by the reference types."""

from __future__ import annotations

import io
import uuid

import pandas as pd
import pytest
import sqlalchemy

from pipeline_core.core import Datastore
from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath
from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.errors import AmliteError
from pipeline_core.transfer import engine_for, source_identity, transfer

pytestmark = pytest.mark.integration


def test_blob_folder_to_another_datastore_with_log_lines(workspace) -> None:
    blobs = workspace.get_default_datastore()
    target = Datastore.register_azure_blob_container(workspace, "landing", f"landing-{uuid.uuid4().hex[:8]}",
                                                     overwrite=True)
    prefix = f"raw/{uuid.uuid4().hex[:8]}"
    blobs._container.upload_blob(f"{prefix}/a.txt", b"aa")
    blobs._container.upload_blob(f"{prefix}/b/c.txt", b"ccc")
    lines: list[str] = []
    result = transfer(workspace, DataReference(blobs, path_on_datastore=prefix), DataPath(target, "in"),
                      source_reference_type="directory", destination_reference_type="directory", log=lines.append)
    assert (result.kind, sorted(result.destinations), result.bytes) == ("blob-copy", ["in/a.txt", "in/b/c.txt"], 5)
    assert lines[-1].startswith("copied 2 blob(s) server-side") and "copied 5 of 5 bytes (100%)" in lines
    assert target._container.download_blob("in/b/c.txt").readall() == b"ccc"
    first = source_identity(workspace, DataReference(blobs, path_on_datastore=prefix))
    blobs._container.upload_blob(f"{prefix}/a.txt", b"AA", overwrite=True)
    assert source_identity(workspace, DataReference(blobs, path_on_datastore=prefix)) != first
    with pytest.raises(AmliteError, match="is not one blob"):
        transfer(workspace, DataReference(blobs, path_on_datastore=prefix), DataPath(target, "x"),
                 source_reference_type="file")


def test_postgres_table_to_parquet_then_back_into_a_table(workspace, postgres_store) -> None:
    table = f"orders_{uuid.uuid4().hex[:8]}"
    with engine_for(postgres_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} AS SELECT g AS id, g * 2 AS amount "
                                     "FROM generate_series(1, 500) g"))
    blobs = workspace.get_default_datastore()
    out = f"exports/{table}"
    exported = transfer(workspace, SqlDataReference(postgres_store, sql_table=table),
                        DataReference(blobs, path_on_datastore=f"{out}/orders.parquet"))
    assert (exported.kind, exported.rows, exported.destinations) == ("export", 500, [f"{out}/orders.parquet"])
    frame = pd.read_parquet(io.BytesIO(blobs._container.download_blob(f"{out}/orders.parquet").readall()))
    assert frame["amount"].sum() == 2 * sum(range(1, 501))
    as_csv = transfer(workspace, SqlDataReference(postgres_store, sql_table=table, data_reference_name="orders"),
                      DataReference(blobs, path_on_datastore=out), destination_reference_type="directory")
    assert as_csv.destinations == [f"{out}/orders.csv"]
    copy = f"{table}_copy"
    loaded = transfer(workspace, DataReference(blobs, path_on_datastore=f"{out}/orders.parquet"),
                      SqlDataReference(postgres_store, sql_table=copy))
    assert (loaded.kind, loaded.rows) == ("import", 500)
    with engine_for(postgres_store) as engine, engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(f"SELECT sum(amount) FROM {copy}")).scalar_one() == 2 * sum(range(1, 501))


def test_wrong_pairings_are_named(workspace, postgres_store) -> None:
    blobs = workspace.get_default_datastore()
    with pytest.raises(AmliteError, match="between two databases"):
        transfer(workspace, SqlDataReference(postgres_store, sql_table="a"), SqlDataReference(postgres_store, sql_table="b"))
    with pytest.raises(AmliteError, match="is a Blob datastore"):
        transfer(workspace, SqlDataReference(blobs, sql_table="a"), DataReference(blobs, path_on_datastore="x"))
    with pytest.raises(AmliteError, match="is a database"):
        transfer(workspace, DataReference(postgres_store, path_on_datastore="x"), DataReference(blobs, path_on_datastore="y"))
    with pytest.raises(AmliteError, match="not a reference type"):
        transfer(workspace, DataReference(blobs, path_on_datastore="x"), DataReference(blobs, path_on_datastore="y"),
                 destination_reference_type="folder")
