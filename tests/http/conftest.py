"""The HTTP API over real sockets: the repo's Functions app served in process by ``DevHost`` against Azurite.

One host per session (``http_base``). Auth is read per request from the
environment (``AuthSettings.from_env()``), so the session runs with
``AMLITE_AUTH=none`` and ``entra_auth`` switches one test to Entra ID
validation against a loopback JWKS, restoring the settings afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_host import restore_env, serve_repo_app, set_env
from cryptography.hazmat.primitives.asymmetric import rsa
from http_support import publish_echo, publish_noop
from jwks_support import JwksServer, LocalIssuer, entra_env, jwk, new_key

from amlite_local.host import DevHost
from pipeline_core import PublishedPipeline, Workspace
from pipeline_core.auth import reset_shared_caches


@pytest.fixture(scope="session")
def http_host(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app served in process on a free loopback port, AMLITE_AUTH=none."""
    with serve_repo_app(azurite) as host:
        yield host


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
    previous = set_env(entra_env(server.url))
    reset_shared_caches()
    try:
        yield LocalIssuer(key, attacker, server)
    finally:
        restore_env(previous)
        reset_shared_caches()
        server.close()


@pytest.fixture(scope="session")
def echo_published(http_workspace: Workspace) -> PublishedPipeline:
    """Shared by tests that only submit to it (never disable it)."""
    return publish_echo(http_workspace)


@pytest.fixture(scope="session")
def noop_published(http_workspace: Workspace) -> PublishedPipeline:
    return publish_noop(http_workspace)
