"""A local stand-in for Azure Key Vault's secrets API (Key Vault cannot run here).

It speaks the documented subset the SDK uses to read a secret, over real HTTPS with a certificate
the test makes: ``GET /secrets/{name}/?api-version=...``; a request without a bearer token gets
the 401 challenge Key Vault sends, so ``azure-keyvault-secrets``' own challenge handling runs.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "local-keyvault-token"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid for an hour; the certificate is also the CA to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "kv.pem", folder / "kv.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class LocalKeyVault:
    """``with LocalKeyVault(tmp_path, {"name": "value"}) as vault:`` then ``vault.url``, ``vault.ca``."""

    def __init__(self, folder: Path, secrets: dict[str, str]):
        self.secrets = dict(secrets)
        self.requests: list[tuple[str, str | None]] = []
        self.ca, key = self_signed(folder)
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                auth = self.headers.get("Authorization")
                vault.requests.append((self.path, auth))
                if auth != f"Bearer {TOKEN}":
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer authorization="https://login.microsoftonline.com/'
                                     'tenant", resource="https://vault.azure.net"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name = self.path.split("?")[0].strip("/").split("/")[1]
                if name not in vault.secrets:
                    self._json(404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {name} "
                                                                                     "was not found in this key vault."}})
                    return
                self._json(200, {"value": vault.secrets[name], "id": f"{vault.url}/secrets/{name}/0001",
                                 "attributes": {"enabled": True}})

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalKeyVault:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def client_options(self) -> dict[str, Any]:
        """What SecretClient needs for this stand-in: trust its certificate; its host is not *.vault.azure.net."""
        return {"connection_verify": str(self.ca), "verify_challenge_resource": False}


class VaultCredential:
    """The identity that may read the vault (a managed identity on Azure); records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)
