"""Server-side auth settings, read from app settings (environment variables).

Set these as Function App application settings (or in ``local.settings.json``
``Values`` when running locally). Lists are comma separated.

amlite settings
---------------
``AMLITE_AUTH``
    ``entra`` | ``easyauth`` | ``key`` | ``none``. Unset means ``none`` when
    running locally and ``entra`` when running in Azure, so a deployed app
    never ends up open by omission.
``AMLITE_TENANT_ID``
    (entra) Directory (tenant) id of the amlite API app registration. Gives the
    default issuers and the default JWKS URL.
``AMLITE_CLIENT_ID``
    (entra) Application (client) id of the amlite API app registration. Both
    ``<client id>`` (v2 tokens) and ``api://<client id>`` (v1 tokens, default
    Application ID URI) are accepted audiences.
``AMLITE_AUDIENCES``
    (entra) Further accepted audiences, e.g. a custom Application ID URI
    ``https://amlite.contoso.com``.
``AMLITE_ACCEPT_ARM_AUDIENCE``
    (entra) ``true`` to also accept tokens issued for Azure Resource Manager
    (``https://management.azure.com/``), which is what AML SDK v1 clients send
    by default. Such tokens carry no amlite app roles (their ``roles`` claim
    belongs to ARM and is ignored), so grant roles with
    ``AMLITE_PRINCIPAL_ROLES``. Default ``false``.
``AMLITE_PRINCIPAL_ROLES``
    (entra) Roles granted by object id, for callers that cannot carry app
    roles: ``<oid>=Pipelines.Submit,<oid>=Pipelines.Read``.
``AMLITE_ALLOWED_ISSUERS``
    (entra) Accepted ``iss`` values. Replaces the defaults
    ``https://sts.windows.net/<tenant>/`` (v1) and
    ``https://login.microsoftonline.com/<tenant>/v2.0`` (v2).
``AMLITE_JWKS_URL``
    (entra) Where the signing keys are fetched. Default
    ``https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys``. Must be
    https, except on a loopback host (tests).
``AMLITE_JWT_LEEWAY_SECONDS``
    (entra) Clock skew tolerated on ``exp``/``nbf``. Default 60.
``AMLITE_JWKS_CACHE_SECONDS``
    (entra) How long fetched keys are used before a routine refresh. Default 86400.
``AMLITE_JWKS_MIN_REFRESH_SECONDS``
    (entra) Minimum gap between fetches, so tokens with made-up ``kid`` values
    cannot make the app hammer the key endpoint. Default 60.
``AMLITE_FUNCTION_KEYS``
    (key) The accepted function keys. Prefer a Key Vault reference
    (``@Microsoft.KeyVault(...)``) over a literal value.

``AMLITE_PUBLIC_BASE_URL``
    The URL clients reach the app at (``https://pipelines.contoso.com``, a
    gateway URL with a path). Links in answers start with it; unset, they
    start with ``https://$WEBSITE_HOSTNAME`` on Azure, else the URL the host
    served (see :mod:`pipeline_core.rest.public_url`). Never the request's
    ``Host`` header.
``AMLITE_TRUSTED_PROXIES``
    (dev host) Addresses or networks (``10.0.0.5, 10.1.0.0/16``) whose
    ``X-Forwarded-Host``/``X-Forwarded-Proto`` the dev host believes.
``AMLITE_SYSTEM_KEY``
    (dev host) The key the Durable management routes
    (``/runtime/webhooks/durabletask/...``) require, as ``?code=`` or
    ``x-functions-key``. Unset: a key generated at start and printed once.
``AMLITE_STORAGE_BUDGET_SECONDS``
    How long one API request retries an unanswering storage account before it
    answers 503 ``StorageUnavailable`` with ``Retry-After``. Default 5.

Platform settings (set by Azure, read here)
-------------------------------------------
``WEBSITE_HOSTNAME``
    The app's default host name; the base of links when
    ``AMLITE_PUBLIC_BASE_URL`` is unset.
``WEBSITE_AUTH_ENABLED``
    ``True`` when App Service Authentication (Easy Auth) is on; required by
    ``easyauth`` mode, because only then does the platform strip client-sent
    ``X-MS-CLIENT-PRINCIPAL`` headers.
``WEBSITE_INSTANCE_ID``, ``WEBSITE_SITE_NAME``
    Present only when running in Azure; either one makes ``none`` refused.
``AZURE_FUNCTIONS_ENVIRONMENT``
    ``Development`` under Core Tools. It is only quoted in messages: it is an
    ordinary app setting, so it cannot prove the app is local.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlsplit

from .errors import AuthConfigError
from .principal import ROLE_IMPLIES

AuthMode = Literal["entra", "easyauth", "key", "none"]
AUTH_MODES: tuple[AuthMode, ...] = ("entra", "easyauth", "key", "none")

#: The audiences ARM tokens carry (with and without the trailing slash).
ARM_AUDIENCES: tuple[str, ...] = ("https://management.azure.com/", "https://management.azure.com")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise AuthConfigError(f"app setting {name}={env[name]!r} is not a boolean; use true or false")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise AuthConfigError(f"app setting {name}={raw!r} must be a number of seconds >= 0")
    return value


def _principal_roles(raw: str | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in _split(raw):
        oid, sep, role = (s.strip() for s in entry.partition("="))
        if not sep or not oid or role not in ROLE_IMPLIES:
            raise AuthConfigError(
                f"AMLITE_PRINCIPAL_ROLES entry {entry!r} is not '<object id>=<role>' "
                f"with a role among {sorted(ROLE_IMPLIES)}"
            )
        pairs.append((oid.lower(), role))
    return tuple(pairs)


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on localhost / 127.0.0.0/8 / ::1."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthSettings:
    """Everything :func:`authenticate` needs; see the module docstring for the variables.

    Build it with :meth:`from_env` in production; tests construct it directly.
    """

    mode: AuthMode = "entra"
    tenant_id: str | None = None
    client_id: str | None = None
    audiences: tuple[str, ...] = ()
    accept_arm_audience: bool = False
    principal_roles: tuple[tuple[str, str], ...] = ()
    allowed_issuers: tuple[str, ...] = ()
    jwks_url: str | None = None
    leeway_seconds: float = 60.0
    jwks_cache_seconds: float = 86400.0
    jwks_min_refresh_seconds: float = 60.0
    function_keys: tuple[str, ...] = ()
    easyauth_enabled: bool = False
    running_in_azure: bool = False
    functions_environment: str | None = None

    def __repr__(self) -> str:
        # Function keys are secrets: show how many, never which.
        shown = {k: v for k, v in self.__dict__.items() if k != "function_keys"}
        body = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"AuthSettings({body}, function_keys=<{len(self.function_keys)} hidden>)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        """Read the settings; raise :class:`AuthConfigError` for values that cannot be parsed.

        Missing values are not errors here (a mode that needs them refuses
        requests with a message naming them); call :meth:`problems` at start-up
        to log them early.
        """
        env = os.environ if environ is None else environ
        in_azure = bool(env.get("WEBSITE_INSTANCE_ID") or env.get("WEBSITE_SITE_NAME"))
        raw_mode = env.get("AMLITE_AUTH", "").strip().lower() or ("entra" if in_azure else "none")
        if raw_mode not in AUTH_MODES:
            raise AuthConfigError(
                f"app setting AMLITE_AUTH={env.get('AMLITE_AUTH')!r} is not one of {', '.join(AUTH_MODES)}"
            )
        return cls(
            mode=cast(AuthMode, raw_mode),
            tenant_id=env.get("AMLITE_TENANT_ID", "").strip() or None,
            client_id=env.get("AMLITE_CLIENT_ID", "").strip() or None,
            audiences=_split(env.get("AMLITE_AUDIENCES")),
            accept_arm_audience=_flag(env, "AMLITE_ACCEPT_ARM_AUDIENCE"),
            principal_roles=_principal_roles(env.get("AMLITE_PRINCIPAL_ROLES")),
            allowed_issuers=_split(env.get("AMLITE_ALLOWED_ISSUERS")),
            jwks_url=env.get("AMLITE_JWKS_URL", "").strip() or None,
            leeway_seconds=_seconds(env, "AMLITE_JWT_LEEWAY_SECONDS", 60.0),
            jwks_cache_seconds=_seconds(env, "AMLITE_JWKS_CACHE_SECONDS", 86400.0),
            jwks_min_refresh_seconds=_seconds(env, "AMLITE_JWKS_MIN_REFRESH_SECONDS", 60.0),
            function_keys=_split(env.get("AMLITE_FUNCTION_KEYS")),
            easyauth_enabled=_flag(env, "WEBSITE_AUTH_ENABLED"),
            running_in_azure=in_azure,
            functions_environment=env.get("AZURE_FUNCTIONS_ENVIRONMENT") or None,
        )

    # -- derived values (entra) ------------------------------------------

    def effective_audiences(self) -> tuple[str, ...]:
        """Accepted ``aud`` values for our own API (ARM's are separate)."""
        derived = (self.client_id, f"api://{self.client_id}") if self.client_id else ()
        return tuple(dict.fromkeys((*derived, *self.audiences)))

    def effective_issuers(self) -> tuple[str, ...]:
        if self.allowed_issuers:
            return self.allowed_issuers
        if not self.tenant_id:
            return ()
        return (
            f"https://sts.windows.net/{self.tenant_id}/",
            f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
        )

    def effective_jwks_url(self) -> str | None:
        if self.jwks_url:
            return self.jwks_url
        if not self.tenant_id:
            return None
        return f"https://login.microsoftonline.com/{self.tenant_id}/discovery/v2.0/keys"

    def roles_for_object_id(self, oid: str | None) -> frozenset[str]:
        """Roles granted in ``AMLITE_PRINCIPAL_ROLES`` (not yet expanded)."""
        if not oid:
            return frozenset()
        oid = oid.lower()
        return frozenset(role for who, role in self.principal_roles if who.lower() == oid)

    def problems(self) -> list[str]:
        """What makes the configured mode refuse every request; empty when usable.

        Meant for a start-up log line, so misconfiguration shows before the
        first user hits it.
        """
        return [message for _, message in self.config_errors()]

    def config_errors(self) -> list[tuple[str, str]]:
        """``(code, message)`` pairs behind :meth:`problems`; the request path raises the first."""
        found: list[tuple[str, str]] = []
        if self.mode == "entra":
            if not self.effective_issuers():
                found.append(
                    (
                        "AuthNotConfigured",
                        "AMLITE_AUTH=entra needs AMLITE_TENANT_ID (or AMLITE_ALLOWED_ISSUERS)",
                    )
                )
            url = self.effective_jwks_url()
            if not url:
                found.append(
                    ("AuthNotConfigured", "AMLITE_AUTH=entra needs AMLITE_TENANT_ID (or AMLITE_JWKS_URL)")
                )
            elif not url.startswith("https://") and not is_loopback_url(url):
                found.append(
                    (
                        "AuthNotConfigured",
                        f"AMLITE_JWKS_URL={url!r} must use https (plain http only on a loopback host)",
                    )
                )
            if not self.effective_audiences() and not self.accept_arm_audience:
                found.append(
                    (
                        "AuthNotConfigured",
                        "AMLITE_AUTH=entra needs AMLITE_CLIENT_ID or AMLITE_AUDIENCES "
                        "(or AMLITE_ACCEPT_ARM_AUDIENCE=true)",
                    )
                )
        elif self.mode == "easyauth" and not self.easyauth_enabled:
            found.append(
                (
                    "EasyAuthNotEnabled",
                    "AMLITE_AUTH=easyauth needs App Service Authentication turned on for the Function App "
                    "(WEBSITE_AUTH_ENABLED is not true), otherwise any client could forge "
                    "X-MS-CLIENT-PRINCIPAL: enable it under Settings > Authentication (authsettingsV2 in "
                    "Bicep), or set AMLITE_AUTH=entra to validate tokens in the app",
                )
            )
        elif self.mode == "key" and not self.function_keys:
            found.append(
                ("AuthNotConfigured", "AMLITE_AUTH=key needs AMLITE_FUNCTION_KEYS (comma-separated keys)")
            )
        elif self.mode == "none" and self.running_in_azure:
            dev = (
                " (AZURE_FUNCTIONS_ENVIRONMENT=Development does not change this)"
                if (self.functions_environment or "").lower() == "development"
                else ""
            )
            found.append(
                (
                    "AuthNoneRefused",
                    "AMLITE_AUTH=none is refused when running in Azure (WEBSITE_INSTANCE_ID/WEBSITE_SITE_NAME "
                    f"are set){dev}: anyone could submit pipelines. Set AMLITE_AUTH to entra, easyauth or key",
                )
            )
        return found
