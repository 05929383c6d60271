"""Client-side authentication, with the names and signatures of ``azureml.core.authentication``.

Each class turns into ``{"Authorization": "Bearer <token>"}`` through
:meth:`~AbstractAuthentication.get_authentication_header`, built on
azure-identity credentials (MSAL underneath). Tokens are cached until five
minutes before they expire, so calling it per request is cheap. Every class is
also an azure-core ``TokenCredential`` (``get_token(*scopes)``), so it can be
handed to Azure SDK clients as is.

Scope (what the token is for), first found wins:
1. the ``scope=`` argument (or ``scope`` in the workspace config),
2. environment variable ``AMLITE_SCOPE``, e.g. ``api://<amlite API client id>/.default``,
3. Azure Resource Manager's ``https://management.azure.com/.default`` (per cloud),
   which is what AML SDK v1 sent; the server accepts it only with
   ``AMLITE_ACCEPT_ARM_AUDIENCE=true``.

Other environment variables: ``AMLITE_PUBLIC_CLIENT_ID`` (the public client
app used for interactive sign-in; default: Azure CLI's), and whatever variable
the workspace config's ``client_secret_env`` names (default
``AZURE_CLIENT_SECRET``) for the service principal secret.

Secrets and tokens never appear in ``repr()``, log lines or exception messages;
a service principal secret is read from the environment, never from a file.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential

from pipeline_core.exceptions import AuthenticationException as AuthenticationException

# azure.identity is imported where a credential is built: it costs ~150 ms, and
# every `import pipeline_core` (Functions cold start, each step process) would pay it.

__all__ = [
    "AbstractAuthentication",
    "AuthenticationException",
    "InteractiveLoginAuthentication",
    "MsiAuthentication",
    "ServicePrincipalAuthentication",
    "default_scope",
    "secret_from_env",
]

log = logging.getLogger(__name__)

#: Refresh a cached token when it has less than this many seconds left.
REFRESH_MARGIN_SECONDS = 300

#: cloud name -> (authority host, ARM scope); hosts as in azure.identity.AzureAuthorityHosts
CLOUDS: Mapping[str, tuple[str, str]] = {
    "AzureCloud": ("login.microsoftonline.com", "https://management.azure.com/.default"),
    "AzureChinaCloud": ("login.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default"),
    "AzureUSGovernment": ("login.microsoftonline.us", "https://management.usgovcloudapi.net/.default"),
}

#: Config keys that would mean a secret is stored in a file.
_SECRET_CONFIG_KEYS = ("client_secret", "service_principal_password", "secret", "password")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")



def _cloud(cloud: str | None) -> tuple[str, str]:
    name = cloud or "AzureCloud"
    if name not in CLOUDS:
        raise AuthenticationException(f"unknown cloud {name!r}; use one of {sorted(CLOUDS)}")
    return CLOUDS[name]


def default_scope(cloud: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``AMLITE_SCOPE`` if set, else ARM's ``.default`` scope for ``cloud``."""
    env = os.environ if environ is None else environ
    return env.get("AMLITE_SCOPE", "").strip() or _cloud(cloud)[1]


def secret_from_env(variable: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of environment variable ``variable``, for a service principal secret.

    Raises :class:`AuthenticationException` naming the variable (never a value)
    when it is unset or empty, or when ``variable`` does not look like a
    variable name, which usually means the secret itself was pasted into the
    config where its variable's name belongs.
    """
    if not _ENV_NAME.match(variable or ""):
        raise AuthenticationException(
            "client_secret_env must be the NAME of an environment variable (letters, digits, '_') "
            "that holds the secret, not the secret itself"
        )
    env = os.environ if environ is None else environ
    value = env.get(variable, "")
    if not value:
        raise AuthenticationException(
            f"environment variable {variable} is not set or empty: export the service principal's "
            "client secret in it (e.g. from a CI secret or Key Vault), never in a config file"
        )
    return value


class _Secret:
    """Holds a secret so that repr()/str()/vars() of its owner never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


class _TokenCache:
    """Tokens by scope tuple; its repr shows scopes only, so vars()/debuggers of the owner stay clean."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], AccessToken] = {}

    def fresh(self, key: tuple[str, ...]) -> AccessToken | None:
        token = self._tokens.get(key)
        if token is not None and token.expires_on - time.time() > REFRESH_MARGIN_SECONDS:
            return token
        return None

    def put(self, key: tuple[str, ...], token: AccessToken) -> None:
        self._tokens[key] = token

    def texts(self) -> list[str]:
        return [token.token for token in self._tokens.values()]

    def __repr__(self) -> str:
        return f"<tokens for {sorted(self._tokens)}>"


class AbstractAuthentication:
    """Base class: token caching, header building, error wrapping.

    ``credential`` replaces the azure-identity credential a subclass would
    build (useful for tests, or for any custom ``TokenCredential``).
    ``credential_options`` are extra keyword arguments for the credential a
    subclass builds (``authority``, ``connection_verify``, ``proxies``,
    ``disable_instance_discovery``, ...); not shown in ``repr()``.
    """

    def __init__(
        self,
        *,
        cloud: str | None = None,
        scope: str | None = None,
        credential: TokenCredential | None = None,
        credential_options: Mapping[str, Any] | None = None,
        enable_caching: bool = True,
    ) -> None:
        self._cloud = cloud or "AzureCloud"
        self._authority = _cloud(self._cloud)[0]
        self._scope = scope or default_scope(self._cloud)
        self._credential = credential
        self._credential_options = dict(credential_options or {})
        self._enable_caching = enable_caching
        self._tokens = _TokenCache()
        self._lock = threading.Lock()

    @property
    def scope(self) -> str:
        return self._scope

    @property
    def cloud(self) -> str:
        return self._cloud

    def _build_credential(self) -> TokenCredential:
        raise NotImplementedError

    def _scrub(self, text: str) -> str:
        """Remove anything secret from an error text (subclasses holding secrets extend this)."""
        for token in self._tokens.texts():
            text = text.replace(token, "<hidden>")
        return text

    def _credential_or_build(self) -> TokenCredential:
        if self._credential is None:
            self._credential = self._build_credential()
        return self._credential

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """An access token for ``scopes`` (default: :attr:`scope`), from cache while fresh."""
        key = tuple(scopes) or (self._scope,)
        cacheable = self._enable_caching and not kwargs
        with self._lock:
            cached = self._tokens.fresh(key) if cacheable else None
            if cached is not None:
                return cached
            try:
                token = self._credential_or_build().get_token(*key, **kwargs)
            except AuthenticationException:
                raise
            except Exception as exc:  # azure-identity raises several unrelated types
                raise AuthenticationException(
                    f"{type(self).__name__} could not get a token for scope {' '.join(key)!r}: "
                    f"{type(exc).__name__}: {self._scrub(str(exc)).strip()}"
                ) from None
            if cacheable:
                self._tokens.put(key, token)
        log.debug(
            "%s got a token for %s, expires at %s", type(self).__name__, " ".join(key), token.expires_on
        )
        return token

    def get_authentication_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for :attr:`scope`, as AML v1 returns."""
        return {"Authorization": f"Bearer {self.get_token().token}"}

    def _repr_fields(self) -> dict[str, object]:
        return {"cloud": self._cloud, "scope": self._scope}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._repr_fields().items())
        return f"{type(self).__name__}({body})"


def _interactive_credential(
    tenant_id: str | None, authority: str, options: Mapping[str, Any]
) -> TokenCredential:
    """Browser sign-in where a browser can open, device code on headless machines."""
    from azure.identity import DeviceCodeCredential, InteractiveBrowserCredential

    client_id = os.environ.get("AMLITE_PUBLIC_CLIENT_ID") or "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    kwargs: dict[str, Any] = {"client_id": client_id, "authority": authority, **options}
    if tenant_id:
        kwargs["tenant_id"] = tenant_id
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless:
        return DeviceCodeCredential(**kwargs)
    return InteractiveBrowserCredential(**kwargs)


class InteractiveLoginAuthentication(AbstractAuthentication):
    """A user's sign-in, like AML v1: the Azure CLI login if there is one, else an interactive prompt.

    ``force=True`` skips the CLI login and always prompts.
    """

    def __init__(
        self,
        force: bool = False,
        tenant_id: str | None = None,
        cloud: str | None = None,
        *,
        scope: str | None = None,
        credential: TokenCredential | None = None,
        credential_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            cloud=cloud, scope=scope, credential=credential, credential_options=credential_options
        )
        self._force = force
        self._tenant_id = tenant_id

    @property
    def tenant_id(self) -> str | None:
        return self._tenant_id

    def _build_credential(self) -> TokenCredential:
        from azure.identity import AzureCliCredential, ChainedTokenCredential

        prompt = _interactive_credential(self._tenant_id, self._authority, self._credential_options)
        if self._force:
            return prompt
        return ChainedTokenCredential(AzureCliCredential(tenant_id=self._tenant_id or ""), prompt)

    def _repr_fields(self) -> dict[str, object]:
        return {"force": self._force, "tenant_id": self._tenant_id, **super()._repr_fields()}


class ServicePrincipalAuthentication(AbstractAuthentication):
    """An app registration signing in with its client secret (CI, schedulers).

    Get the secret from the environment, e.g.
    ``ServicePrincipalAuthentication(tid, app_id, secret_from_env("AML_SP_SECRET"))``,
    or use :meth:`from_config`.
    """

    def __init__(
        self,
        tenant_id: str,
        service_principal_id: str,
        service_principal_password: str,
        cloud: str = "AzureCloud",
        _enable_caching: bool = True,
        *,
        scope: str | None = None,
        credential: TokenCredential | None = None,
        credential_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not tenant_id or not service_principal_id:
            raise AuthenticationException(
                "ServicePrincipalAuthentication needs tenant_id and service_principal_id"
            )
        if not service_principal_password:
            raise AuthenticationException(
                "ServicePrincipalAuthentication got an empty service_principal_password; "
                "read it with secret_from_env('<VARIABLE>')"
            )
        super().__init__(
            cloud=cloud,
            scope=scope,
            credential=credential,
            credential_options=credential_options,
            enable_caching=_enable_caching,
        )
        self._tenant_id = tenant_id
        self._service_principal_id = service_principal_id
        self._secret = _Secret(service_principal_password)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        *,
        credential_options: Mapping[str, Any] | None = None,
    ) -> ServicePrincipalAuthentication:
        """Build from a workspace config dict (``config.json``).

        Reads ``tenant_id``, ``service_principal_id`` (or ``client_id``),
        ``cloud``, ``scope`` and ``client_secret_env``: the *name* of the
        environment variable holding the secret (default ``AZURE_CLIENT_SECRET``).
        A secret stored in the config itself is refused.
        """
        stored = [k for k in _SECRET_CONFIG_KEYS if config.get(k)]
        if stored:
            raise AuthenticationException(
                f"workspace config has {stored[0]!r}: secrets are not read from files. Put the secret in an "
                "environment variable and name that variable in 'client_secret_env'"
            )
        sp_id = config.get("service_principal_id") or config.get("client_id")
        tenant = config.get("tenant_id")
        if not tenant or not sp_id:
            raise AuthenticationException(
                "workspace config needs 'tenant_id' and 'service_principal_id' (or 'client_id') "
                "for service principal authentication"
            )
        secret = secret_from_env(str(config.get("client_secret_env") or "AZURE_CLIENT_SECRET"), environ)
        return cls(
            str(tenant),
            str(sp_id),
            secret,
            cloud=str(config.get("cloud") or "AzureCloud"),
            scope=config.get("scope") or None,
            credential_options=credential_options,
        )

    @property
    def tenant_id(self) -> str:
        return self._tenant_id

    @property
    def service_principal_id(self) -> str:
        return self._service_principal_id

    def _build_credential(self) -> TokenCredential:
        from azure.identity import ClientSecretCredential

        options = {"authority": self._authority, **self._credential_options}
        return ClientSecretCredential(
            self._tenant_id, self._service_principal_id, self._secret.reveal(), **options
        )

    def _scrub(self, text: str) -> str:
        return super()._scrub(text).replace(self._secret.reveal(), "<hidden>")

    def _repr_fields(self) -> dict[str, object]:
        return {
            "tenant_id": self._tenant_id,
            "service_principal_id": self._service_principal_id,
            **super()._repr_fields(),
        }


class MsiAuthentication(AbstractAuthentication):
    """The managed identity of the Azure resource the code runs on (VM, Functions, Container Apps).

    ``identity_config`` picks a user-assigned identity as in AML v1:
    ``{"client_id": ...}``, ``{"object_id": ...}`` or ``{"mi_res_id": ...}``;
    omitted, the system-assigned identity is used.
    """

    def __init__(
        self,
        cloud: str | Mapping[str, str] | None = None,
        identity_config: Mapping[str, str] | None = None,
        *,
        scope: str | None = None,
        credential: TokenCredential | None = None,
        credential_options: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(cloud, Mapping):  # MsiAuthentication({"client_id": ...}) reads as intended
            cloud, identity_config = None, identity_config or cloud
        super().__init__(
            cloud=cloud, scope=scope, credential=credential, credential_options=credential_options
        )
        self._identity_config = dict(identity_config or {})

    @property
    def identity_config(self) -> dict[str, str]:
        return dict(self._identity_config)

    def _build_credential(self) -> TokenCredential:
        from azure.identity import ManagedIdentityCredential

        config = dict(self._identity_config)
        client_id = config.pop("client_id", None)
        return ManagedIdentityCredential(
            client_id=client_id, identity_config=config or None, **self._credential_options
        )

    def _repr_fields(self) -> dict[str, object]:
        return {"identity_config": self._identity_config, **super()._repr_fields()}
