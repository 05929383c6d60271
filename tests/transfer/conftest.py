"""Real PostgreSQL and MariaDB servers for the transfer tests, one each per session, always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.databases import DatabaseServer, missing_mariadb, missing_postgres, start_mariadb, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    reason = missing_postgres()
    if reason:
        pytest.skip(reason)
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DatabaseServer]:
    reason = missing_mariadb()
    if reason:
        pytest.skip(reason)
    server = start_mariadb()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_store(workspace, postgres_server: DatabaseServer):  # type: ignore[no-untyped-def]
    from pipeline_core.core import Datastore

    return Datastore.register_azure_postgre_sql(
        workspace, "pgstore", "127.0.0.1", postgres_server.database, postgres_server.user,
        postgres_server.password, port_number=postgres_server.port, enforce_ssl=False, overwrite=True)


@pytest.fixture
def mariadb_store(workspace, mariadb_server: DatabaseServer):  # type: ignore[no-untyped-def]
    from pipeline_core.core import Datastore

    return Datastore.register_azure_my_sql(
        workspace, "mystore", "127.0.0.1", mariadb_server.database, mariadb_server.user,
        mariadb_server.password, port_number=mariadb_server.port, overwrite=True)
