"""The request headers that prove who the SDK is to the Functions app.

Order, first found wins:
1. the workspace's ``auth`` object (``InteractiveLoginAuthentication``,
   ``ServicePrincipalAuthentication``, ``MsiAuthentication`` or anything with
   ``get_authentication_header()``), as AML v1 takes ``Workspace(auth=...)``;
2. a service principal from the workspace config when it names
   ``client_secret_env`` (``ServicePrincipalAuthentication.from_config``), so a
   CI job needs only config.json plus the secret's variable;
3. nothing: a dev host or app running with ``AMLITE_AUTH=none``.

Independently, ``AMLITE_FUNCTION_KEY`` adds ``x-functions-key`` for an app in
``AMLITE_AUTH=key`` mode. Headers are asked for per request: the auth classes
cache tokens and refresh them before they expire.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace

HeaderProvider = Callable[[], dict[str, str]]
FUNCTION_KEY_ENV = "AMLITE_FUNCTION_KEY"


def workspace_auth(workspace: Workspace) -> Any:
    """The auth object requests are signed with, or None (see the module docstring for the order)."""
    auth = getattr(workspace, "_auth", None)
    if auth is not None:
        if not callable(getattr(auth, "get_authentication_header", None)):
            raise AmliteError(f"Workspace auth {type(auth).__name__} has no get_authentication_header(); use "
                              "InteractiveLoginAuthentication, ServicePrincipalAuthentication or MsiAuthentication "
                              "from pipeline_core.core.authentication")
        return auth
    if getattr(workspace, "client_secret_env", None):
        from pipeline_core.core.authentication import ServicePrincipalAuthentication

        config = {"tenant_id": workspace.tenant_id, "client_id": workspace.client_id, "scope": workspace.scope,
                  "client_secret_env": workspace.client_secret_env}
        auth = ServicePrincipalAuthentication.from_config(config)
        workspace._auth = auth  # build once: it caches its tokens
        return auth
    return None


def header_provider(workspace: Workspace) -> HeaderProvider:
    """A function returning fresh auth headers for each request."""
    auth = workspace_auth(workspace)

    def headers() -> dict[str, str]:
        found: dict[str, str] = {}
        key = os.environ.get(FUNCTION_KEY_ENV, "").strip()
        if key:
            found["x-functions-key"] = key
        if auth is not None:
            found.update(auth.get_authentication_header())
        return found

    return headers
