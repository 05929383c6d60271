"""``easyauth`` mode: trust the identity App Service Authentication injects.

With App Service Authentication on, the platform validates the caller's token
and adds ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON: ``auth_typ``, ``name_typ``,
``role_typ``, ``claims: [{typ, val}]``), stripping any copy the client sent.
That stripping is the whole basis of trust, so this mode refuses to run unless
``WEBSITE_AUTH_ENABLED`` says the feature is on (checked by the caller via
:meth:`AuthSettings.config_errors`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from .errors import AuthError
from .headers import header
from .principal import Principal, expand_roles

_ROLE_TYPES = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
_OID_TYPES = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_TID_TYPES = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")


def _decode_principal(raw: str) -> dict[str, Any]:
    try:
        padded = raw.strip() + "=" * (-len(raw.strip()) % 4)
        doc = json.loads(base64.b64decode(padded, validate=True))
    except (binascii.Error, ValueError):
        raise AuthError(
            401, "InvalidClientPrincipal", "X-MS-CLIENT-PRINCIPAL is not base64-encoded JSON"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("claims", []), list):
        raise AuthError(401, "InvalidClientPrincipal", "X-MS-CLIENT-PRINCIPAL has no 'claims' list")
    return doc


def authenticate_easyauth(headers: Mapping[str, str]) -> Principal:
    """Principal from ``X-MS-CLIENT-PRINCIPAL``; 401 when the platform sent none (anonymous caller)."""
    raw = header(headers, "X-MS-CLIENT-PRINCIPAL")
    if not raw:
        raise AuthError(
            401,
            "MissingClientPrincipal",
            "No signed-in caller: App Service Authentication passed the request without X-MS-CLIENT-PRINCIPAL; "
            "set its unauthenticated action to 'Return HTTP 401' or send an Entra ID token",
        )
    doc = _decode_principal(raw)
    role_types = {doc.get("role_typ"), *_ROLE_TYPES}
    claims: dict[str, list[str]] = {}
    for item in doc.get("claims", []):
        if isinstance(item, dict) and isinstance(item.get("typ"), str) and isinstance(item.get("val"), str):
            claims.setdefault(item["typ"], []).append(item["val"])

    def first(types: tuple[str, ...] | list[Any]) -> str | None:
        return next((claims[t][0] for t in types if t in claims), None)

    roles = [val for typ, vals in claims.items() if typ in role_types for val in vals]
    oid = first(_OID_TYPES) or header(headers, "X-MS-CLIENT-PRINCIPAL-ID")
    name = first([doc.get("name_typ"), "name", "preferred_username"]) or header(
        headers, "X-MS-CLIENT-PRINCIPAL-NAME"
    )
    principal_id = oid or name or "unknown"
    return Principal(
        id=principal_id,
        name=name or principal_id,
        auth_mode="easyauth",
        roles=expand_roles(roles),
        tenant_id=first(_TID_TYPES),
        is_application=name is None,
        claims={"auth_typ": doc.get("auth_typ"), "claims": claims},
    )
