"""A local Entra ID stand-in for tests: RSA keys, a loopback JWKS endpoint and token minting.

No Entra ID anywhere: keys are generated with ``cryptography``, the JWKS is
served by an HTTP server on 127.0.0.1, tokens are minted with PyJWT (or by hand
for the algorithms PyJWT rightly refuses to produce).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
V1_ISSUER = f"https://sts.windows.net/{TENANT}/"
V2_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
READ, SUBMIT, PUBLISH = "Pipelines.Read", "Pipelines.Submit", "Pipelines.Publish"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public half of ``key`` as a JWKS entry."""
    entry = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    entry.update(kid=kid, use="sig", alg="RS256")
    return entry


class JwksServer:
    """A JWKS endpoint on a loopback socket; tests swap ``jwks`` to simulate rotation."""

    def __init__(self, jwks: list[dict[str, Any]] | None = None) -> None:
        self.jwks: list[dict[str, Any]] = list(jwks or [])
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests += 1
                body = json.dumps({"keys": server.jwks}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{TENANT}/discovery/v2.0/keys"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid v2 access token's claims for the test tenant and API; ``None`` removes a claim."""
    now = int(time.time())
    base = {
        "iss": V2_ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": TENANT,
        "oid": "00000000-0000-0000-0000-00000000abcd",
        "sub": "subject",
        "preferred_username": "ada@contoso.com",
        "scp": "user_impersonation",
        "roles": [SUBMIT],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(key: rsa.RSAPrivateKey, kid: str = "k1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A JWT built by hand, for algorithms PyJWT rightly refuses to produce (none, HS256 with a PEM)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = (
        "" if secret is None else _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
    )
    return f"{signing_input}.{signature}"


def bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def entra_env(jwks_url: str) -> dict[str, str]:
    """The app settings that make the server validate tokens from this local issuer."""
    return {
        "AMLITE_AUTH": "entra",
        "AMLITE_TENANT_ID": TENANT,
        "AMLITE_CLIENT_ID": CLIENT_ID,
        "AMLITE_JWKS_URL": jwks_url,
    }


@dataclass
class LocalIssuer:
    """A test tenant's token issuer: its signing key (kid ``k1``), an attacker's key, and its JWKS endpoint."""

    key: rsa.RSAPrivateKey
    attacker: rsa.RSAPrivateKey
    jwks: JwksServer
