"""Reading credentials out of plain header/query mappings.

The HTTP layer hands over whatever mapping its framework has; HTTP header names
are case-insensitive, so lookups here never rely on the mapping doing that.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import AuthError

#: Schemes carrying a JWT: ``Bearer`` (OAuth 2) and ``Token`` (what AML v1
#: clients and docs send to published pipeline endpoints).
TOKEN_SCHEMES = ("bearer", "token")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Value of header ``name`` whatever the case of the key, or None."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, val in headers.items():
        if key.lower() == wanted:
            return val
    return None


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token from ``Authorization: Bearer <t>`` or ``Authorization: Token <t>``."""
    value = (header(headers, "Authorization") or "").strip()
    if not value:
        raise AuthError(
            401,
            "MissingToken",
            "No access token: send 'Authorization: Bearer <token>' with an Entra ID token for the amlite API",
        )
    scheme, _, token = value.partition(" ")
    if scheme.lower() not in TOKEN_SCHEMES:
        raise AuthError(
            401,
            "UnsupportedAuthScheme",
            f"Authorization scheme {scheme[:20]!r} is not supported: use 'Bearer <token>' or 'Token <token>'",
        )
    token = token.strip()
    if not token:
        raise AuthError(
            401, "MissingToken", f"Authorization header has the {scheme} scheme but no token after it"
        )
    return token
