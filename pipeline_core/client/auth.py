"""The request headers that prove who the SDK is to the Functions app.

The auth object (anything with ``get_authentication_header()``, or None for a
dev host or app running with ``AMLITE_AUTH=none``) is picked by the remote
backend from the workspace (``pipeline_core.backend.remote.workspace_auth``);
this module only turns it into headers. Independently, ``AMLITE_FUNCTION_KEY``
adds ``x-functions-key`` for an app in ``AMLITE_AUTH=key`` mode. Headers are asked for per request: the auth classes
cache tokens and refresh them before they expire.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

HeaderProvider = Callable[[], dict[str, str]]
FUNCTION_KEY_ENV = "AMLITE_FUNCTION_KEY"


def header_provider(auth: Any) -> HeaderProvider:
    """A function returning fresh auth headers for each request (``auth``: see the module docstring)."""

    def headers() -> dict[str, str]:
        found: dict[str, str] = {}
        key = os.environ.get(FUNCTION_KEY_ENV, "").strip()
        if key:
            found["x-functions-key"] = key
        if auth is not None:
            found.update(auth.get_authentication_header())
        return found

    return headers
