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


@pytest.fixture(scope="session")
def two_accounts() -> Iterator[tuple[str, tuple[str, str], tuple[str, str]]]:
    """A private blob-only Azurite holding two storage accounts: (blob endpoint base, (name, key) x 2)."""
    import base64
    import os
    import socket
    import subprocess
    import time

    from support.databases import free_port

    from pipeline_core.storage.azurite import DEVSTORE_ACCOUNT, DEVSTORE_KEY, find_azurite_binary

    binary = find_azurite_binary()
    if binary is None:
        pytest.skip("Azurite is not installed (make setup runs npm ci)")
    second = ("otheraccount", base64.b64encode(b"amlite-second-account-key-000000").decode())
    port = free_port()
    env = dict(os.environ, AZURITE_ACCOUNTS=f"{DEVSTORE_ACCOUNT}:{DEVSTORE_KEY};{second[0]}:{second[1]}")
    process = subprocess.Popen([str(binary.parent / "azurite-blob"), "--silent", "--skipApiVersionCheck", "--loose",
                                "--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the second Azurite did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", (DEVSTORE_ACCOUNT, DEVSTORE_KEY), second
    finally:  # in memory, nothing to save; on SIGTERM Azurite waits out idle keep-alive connections
        process.kill()
        process.wait(timeout=10)
