"""The HTTP API over real sockets: the repo's Functions app served in process by ``DevHost`` against Azurite.

One host per session (``http_base``). Auth is read per request from the
environment (``AuthSettings.from_env()``), so the session runs with
``AMLITE_AUTH=none`` and ``entra_auth`` switches one test to Entra ID
validation against a loopback JWKS, restoring the settings afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from http_support import publish_echo, publish_noop
from jwks_support import JwksServer, LocalIssuer, entra_env, jwk, new_key

from amlite_devhost.server import DevHost
from pipeline_core import PublishedPipeline, Workspace
from pipeline_core.auth import reset_shared_caches

REPO_ROOT = Path(__file__).resolve().parents[2]


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return previous


def _restore_env(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def http_host(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app served in process on a free loopback port, AMLITE_AUTH=none."""
    # AzureWebJobsStorage: the host's own storage, as every Functions app has (blob triggers poll it)
    previous = _set_env({"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none"})
    # No timers or blob-trigger polling: schedules are not under test here, and they would add background load.
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, enable_blob_triggers=False, load_settings=False)
    try:
        host.start()
        yield host
    finally:
        host.stop()
        _restore_env(previous)


@pytest.fixture(scope="session")
def http_base(http_host: DevHost) -> str:
    """``http://127.0.0.1:<port>`` of the session's host."""
    return http_host.base_url


@pytest.fixture(scope="session")
def http_workspace(azurite: str) -> Workspace:
    return Workspace(storage=azurite)


@pytest.fixture(scope="session")
def _issuer_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return new_key(), new_key()


@pytest.fixture
def entra_auth(http_base: str, _issuer_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> Iterator[LocalIssuer]:
    """Switch the running host to ``AMLITE_AUTH=entra`` against a loopback JWKS for one test."""
    key, attacker = _issuer_keys
    server = JwksServer([jwk(key, "k1")])
    previous = _set_env(entra_env(server.url))
    reset_shared_caches()
    try:
        yield LocalIssuer(key, attacker, server)
    finally:
        _restore_env(previous)
        reset_shared_caches()
        server.close()


@pytest.fixture(scope="session")
def echo_published(http_workspace: Workspace) -> PublishedPipeline:
    """Shared by tests that only submit to it (never disable it)."""
    return publish_echo(http_workspace)


@pytest.fixture(scope="session")
def noop_published(http_workspace: Workspace) -> PublishedPipeline:
    return publish_noop(http_workspace)
