"""Server-side request authentication for the amlite HTTP API.

The HTTP layer (``functions/``) passes plain header and query mappings to
:func:`authenticate` and maps :class:`AuthError` to a response
(``err.status``, ``err.headers()``, ``err.to_dict()``). Nothing here imports
``azure.functions``.

Modes (app setting ``AMLITE_AUTH``): ``entra`` validates the Entra ID bearer
token in the app; ``easyauth`` trusts App Service Authentication's
``X-MS-CLIENT-PRINCIPAL``; ``key`` checks a function key; ``none`` is for a
developer's machine only. Every setting is documented in
:mod:`pipeline_core.auth.settings`.

Roles: ``Pipelines.Read`` ⊆ ``Pipelines.Submit`` ⊆ ``Pipelines.Publish``
(a higher role implies the lower ones; see :mod:`pipeline_core.auth.principal`).
"""

from .dispatch import LOCAL_PRINCIPAL, authenticate
from .errors import AuthConfigError, AuthError
from .jwks import JwksCache, JwksFetchError, reset_shared_caches
from .principal import ALL_ROLES, ROLE_PUBLISH, ROLE_READ, ROLE_SUBMIT, Principal, expand_roles
from .settings import AUTH_MODES, AuthMode, AuthSettings

__all__ = [
    "ALL_ROLES",
    "AUTH_MODES",
    "LOCAL_PRINCIPAL",
    "ROLE_PUBLISH",
    "ROLE_READ",
    "ROLE_SUBMIT",
    "AuthConfigError",
    "AuthError",
    "AuthMode",
    "AuthSettings",
    "JwksCache",
    "JwksFetchError",
    "Principal",
    "authenticate",
    "expand_roles",
    "reset_shared_caches",
]
