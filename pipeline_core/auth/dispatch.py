"""The single entry point the HTTP layer calls for every request."""

from __future__ import annotations

from collections.abc import Mapping

from .easyauth import authenticate_easyauth
from .errors import AuthConfigError, AuthError
from .function_keys import authenticate_key
from .jwks import JwksCache
from .principal import ALL_ROLES, Principal, check_role_name
from .settings import ARM_AUDIENCES, AuthSettings

#: Who the caller is in ``none`` mode (only ever on a developer's machine).
LOCAL_PRINCIPAL = Principal(id="local", name="local developer", auth_mode="none", roles=ALL_ROLES)


def _missing_role(principal: Principal, role: str) -> AuthError:
    who = f"{principal.name!r}" + (f" (object id {principal.id})" if principal.id != principal.name else "")
    has = ", ".join(sorted(principal.roles)) or "none"
    hint = (
        "assign it on the amlite API's enterprise application (Users and groups for people; "
        "API permissions > Application permissions with admin consent for apps), then get a new token"
    )
    if principal.auth_mode == "entra":
        hint += ", or grant it by object id in AMLITE_PRINCIPAL_ROLES"
        if principal.claims.get("aud") in ARM_AUDIENCES:
            hint = (
                "ARM tokens carry no amlite app roles: grant it by object id in AMLITE_PRINCIPAL_ROLES, "
                "or request the token for the amlite API's scope instead of ARM's"
            )
    return AuthError(
        403, "MissingRole", f"Caller {who} lacks the app role {role!r} needed here (has: {has}); {hint}"
    )


def authenticate(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    required_role: str,
    settings: AuthSettings | None = None,
    *,
    jwks_cache: JwksCache | None = None,
) -> Principal:
    """Authenticate a request and check it holds ``required_role``.

    ``headers`` and ``query`` are plain mappings (header names in any case).
    ``settings`` defaults to :meth:`AuthSettings.from_env`, read per call so an
    app-setting change applies without a code path to reload it.
    ``jwks_cache`` overrides the process-wide key cache (tests).

    Raises :class:`AuthError`: 401 unauthenticated, 403 missing role or auth
    mode refused by configuration, 503 signing keys unreachable.
    """
    check_role_name(required_role)
    settings = settings or AuthSettings.from_env()
    errors = settings.config_errors()
    if errors:
        code, _ = errors[0]
        raise AuthConfigError("; ".join(message for _, message in errors), code=code)
    if settings.mode == "entra":
        # PyJWT and cryptography load on the first token, not with every app that imports auth (~35 ms).
        from .entra import authenticate_entra

        principal = authenticate_entra(headers, settings, jwks_cache)
    elif settings.mode == "easyauth":
        principal = authenticate_easyauth(headers)
    elif settings.mode == "key":
        principal = authenticate_key(headers, query, settings.function_keys)
    else:
        principal = LOCAL_PRINCIPAL
    if not principal.has_role(required_role):
        raise _missing_role(principal, required_role)
    return principal
