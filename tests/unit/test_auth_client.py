"""Client-side authentication classes (AML v1 names), with an injected credential: no network."""

from __future__ import annotations

import datetime
import json
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    ChainedTokenCredential,
    ClientSecretCredential,
    DeviceCodeCredential,
    ManagedIdentityCredential,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pipeline_core.core.authentication import (
    AuthenticationException,
    InteractiveLoginAuthentication,
    MsiAuthentication,
    ServicePrincipalAuthentication,
    default_scope,
    secret_from_env,
)

SECRET = "sp-secret-value-Zx9~Qw"
TENANT = "11111111-2222-3333-4444-555555555555"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


class FakeCredential:
    """Hands out numbered tokens with a chosen lifetime and records the scopes asked for."""

    def __init__(self, lifetime: float = 3600, error: Exception | None = None) -> None:
        self.lifetime = lifetime
        self.error = error
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        if self.error:
            raise self.error
        return AccessToken(f"token-{len(self.calls)}", int(time.time() + self.lifetime))


@pytest.fixture(autouse=True)
def _no_scope_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMLITE_SCOPE", raising=False)


def sp(**kwargs: Any) -> ServicePrincipalAuthentication:
    return ServicePrincipalAuthentication(TENANT, APP, SECRET, **kwargs)


def test_header_shape_and_default_scope_is_arm() -> None:
    cred = FakeCredential()
    auth = sp(credential=cred)
    assert auth.get_authentication_header() == {"Authorization": "Bearer token-1"}
    assert cred.calls == [("https://management.azure.com/.default",)]


def test_scope_from_argument_then_env_then_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sp(scope="api://amlite/.default").scope == "api://amlite/.default"
    assert sp(cloud="AzureChinaCloud").scope == "https://management.chinacloudapi.cn/.default"
    monkeypatch.setenv("AMLITE_SCOPE", "api://from-env/.default")
    assert sp().scope == "api://from-env/.default"
    assert default_scope(environ={}) == "https://management.azure.com/.default"
    with pytest.raises(AuthenticationException, match="unknown cloud"):
        sp(cloud="Mars")


def test_tokens_cached_until_near_expiry() -> None:
    fresh = FakeCredential(lifetime=3600)
    auth = sp(credential=fresh)
    assert [auth.get_authentication_header() for _ in range(3)][-1]["Authorization"] == "Bearer token-1"
    assert len(fresh.calls) == 1

    expiring = FakeCredential(lifetime=120)  # inside the 5-minute refresh margin
    auth = sp(credential=expiring)
    auth.get_authentication_header()
    assert auth.get_authentication_header() == {"Authorization": "Bearer token-2"}

    uncached = FakeCredential()
    auth = ServicePrincipalAuthentication(TENANT, APP, SECRET, "AzureCloud", False, credential=uncached)
    auth.get_token()
    auth.get_token()
    assert len(uncached.calls) == 2


def test_get_token_is_a_token_credential() -> None:
    cred = FakeCredential()
    auth = MsiAuthentication(credential=cred)
    assert auth.get_token("https://storage.azure.com/.default").token == "token-1"
    assert cred.calls == [("https://storage.azure.com/.default",)]


def test_secret_never_in_repr_vars_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth = sp(credential=FakeCredential())
    header = auth.get_authentication_header()["Authorization"]
    shown = f"{auth!r} {auth} {vars(auth)}"
    assert SECRET not in shown and "token-1" not in shown
    assert TENANT in repr(auth) and APP in repr(auth)
    assert SECRET not in caplog.text and header.split()[1] not in caplog.text

    failing = sp(
        credential=FakeCredential(error=ClientAuthenticationError(f"AADSTS7000215: bad secret {SECRET}"))
    )
    with pytest.raises(AuthenticationException) as info:
        failing.get_authentication_header()
    message = str(info.value)
    assert (
        SECRET not in message and "AADSTS7000215" in message and "ServicePrincipalAuthentication" in message
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_empty_secret_refused() -> None:
    with pytest.raises(AuthenticationException, match="secret_from_env"):
        ServicePrincipalAuthentication(TENANT, APP, "")


def test_secret_from_env() -> None:
    assert secret_from_env("AML_SP_SECRET", {"AML_SP_SECRET": SECRET}) == SECRET
    with pytest.raises(AuthenticationException, match="AML_SP_SECRET is not set"):
        secret_from_env("AML_SP_SECRET", {})
    with pytest.raises(AuthenticationException) as info:
        secret_from_env(SECRET, {})  # the secret pasted where the variable name belongs
    assert SECRET not in str(info.value) and "NAME of an environment variable" in str(info.value)


def test_from_config_reads_secret_from_named_variable() -> None:
    config = {
        "tenant_id": TENANT,
        "service_principal_id": APP,
        "client_secret_env": "AML_SP_SECRET",
        "scope": "api://amlite/.default",
    }
    auth = ServicePrincipalAuthentication.from_config(config, {"AML_SP_SECRET": SECRET})
    assert (auth.tenant_id, auth.service_principal_id, auth.scope) == (TENANT, APP, "api://amlite/.default")
    credential = auth._build_credential()
    assert isinstance(credential, ClientSecretCredential)

    default_var = ServicePrincipalAuthentication.from_config(
        {"tenant_id": TENANT, "client_id": APP}, {"AZURE_CLIENT_SECRET": SECRET}
    )
    assert default_var.service_principal_id == APP


def test_from_config_refuses_secrets_in_files() -> None:
    with pytest.raises(AuthenticationException) as info:
        ServicePrincipalAuthentication.from_config(
            {"tenant_id": TENANT, "client_id": APP, "client_secret": SECRET}
        )
    assert SECRET not in str(info.value) and "client_secret_env" in str(info.value)
    with pytest.raises(AuthenticationException, match="tenant_id"):
        ServicePrincipalAuthentication.from_config({"client_id": APP}, {"AZURE_CLIENT_SECRET": SECRET})


def test_msi_identity_config_like_aml() -> None:
    auth = MsiAuthentication(identity_config={"client_id": APP})
    assert auth.identity_config == {"client_id": APP} and auth.cloud == "AzureCloud"
    assert isinstance(auth._build_credential(), ManagedIdentityCredential)
    assert MsiAuthentication({"client_id": APP}).identity_config == {"client_id": APP}
    assert "client_id" in repr(auth)


def test_interactive_login_builds_cli_then_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert isinstance(InteractiveLoginAuthentication()._build_credential(), ChainedTokenCredential)
    forced = InteractiveLoginAuthentication(force=True, tenant_id=TENANT)
    assert isinstance(forced._build_credential(), DeviceCodeCredential), "headless: device code"
    assert repr(forced) == (
        f"InteractiveLoginAuthentication(force=True, tenant_id='{TENANT}', cloud='AzureCloud', "
        "scope='https://management.azure.com/.default')"
    )
    cred = FakeCredential()
    assert (
        InteractiveLoginAuthentication(credential=cred)
        .get_authentication_header()["Authorization"]
        .startswith("Bearer ")
    )


# --------------------------------------------------------------------------- real wire: loopback token endpoint


class FakeAuthority:
    """An Entra-shaped authority on https://localhost (self-signed): OIDC metadata + token endpoint."""

    def __init__(self, directory: Path) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.ca_file = directory / "authority.pem"
        key_file = directory / "authority.key"
        self.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        self.token_requests: list[dict[str, str]] = []
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                base = f"{authority.url}/{self.path.split('/')[1]}"
                self._json(
                    {
                        "issuer": f"{base}/v2.0",
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    }
                )

            def do_POST(self) -> None:  # noqa: N802
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                authority.token_requests.append({k: v[0] for k, v in form.items()})
                self._json({"access_token": "issued-by-fake", "expires_in": 3600, "token_type": "Bearer"})

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_authority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAuthority]:
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    authority = FakeAuthority(tmp_path)
    yield authority
    authority.close()


def test_service_principal_against_loopback_token_endpoint(fake_authority: FakeAuthority) -> None:
    auth = ServicePrincipalAuthentication.from_config(
        {
            "tenant_id": TENANT,
            "service_principal_id": APP,
            "client_secret_env": "AML_SP_SECRET",
            "scope": "api://amlite/.default",
        },
        {"AML_SP_SECRET": SECRET},
        credential_options={
            "authority": fake_authority.url,
            "disable_instance_discovery": True,
            "connection_verify": str(fake_authority.ca_file),
        },
    )
    assert auth.get_authentication_header() == {"Authorization": "Bearer issued-by-fake"}
    assert auth.get_authentication_header() == {"Authorization": "Bearer issued-by-fake"}
    assert len(fake_authority.token_requests) == 1, "second header comes from the cache"
    request = fake_authority.token_requests[0]
    assert request["grant_type"] == "client_credentials"
    assert (request["client_id"], request["client_secret"], request["scope"]) == (
        APP,
        SECRET,
        "api://amlite/.default",
    )
    assert SECRET not in repr(auth) and fake_authority.url not in repr(auth)
