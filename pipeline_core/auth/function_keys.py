"""``key`` mode: a shared function key, like Functions' ``authLevel: function``.

The key arrives in ``x-functions-key`` or the ``code`` query parameter (the
two places Functions clients already put it). It is compared against every
configured key in constant time, on SHA-256 digests so that neither the
position of a mismatch nor the key's length leaks through timing. Key holders
get all roles: a function key is an all-or-nothing secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from .errors import AuthError
from .headers import header
from .principal import ALL_ROLES, Principal


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def match_key(given: str, keys: tuple[str, ...]) -> int | None:
    """Index of the matching key, or None; every key is compared (no early exit)."""
    given_digest = _digest(given)
    found: int | None = None
    for index, key in enumerate(keys):
        if hmac.compare_digest(given_digest, _digest(key)) and found is None:
            found = index
    return found


def authenticate_key(
    headers: Mapping[str, str], query: Mapping[str, str], keys: tuple[str, ...]
) -> Principal:
    given = header(headers, "x-functions-key") or query.get("code")
    if not given:
        raise AuthError(
            401,
            "MissingFunctionKey",
            "No function key: send it in the 'x-functions-key' header (or the 'code' query parameter)",
        )
    index = match_key(given, keys)
    if index is None:
        raise AuthError(401, "InvalidFunctionKey", "The function key is not valid for this app")
    return Principal(
        id=f"function-key-{index}", name=f"function key #{index}", auth_mode="key", roles=ALL_ROLES
    )
