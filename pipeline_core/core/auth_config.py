"""The AML starter template's ``auth`` section: which sign-in a driver uses, decided from config.

Why a module of its own: CI jobs, release pipelines and people run the same driver. The
template's config names a service principal (``tenant_id``, ``client_id``) and where its secret
lives — an environment variable (``client_secret_env``, what a CI secret becomes) or Key Vault
(``keyvault_url`` + ``keyvault_secret_name``, read with whatever Azure sign-in the machine
already has: a managed identity, the CI's federated credential, ``az login``). With neither
available, a person at a terminal signs in with a device code. The secret itself is never in
the file; a config that holds one is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import TokenCredential

from pipeline_core.core.authentication import (
    AbstractAuthentication,
    AuthenticationException,
    InteractiveLoginAuthentication,
    ServicePrincipalAuthentication,
    secret_from_env,
)

_SECRET_KEYS = ("client_secret", "service_principal_password", "secret", "password")


def keyvault_secret(vault_url: str, name: str, credential: TokenCredential | None = None,
                    **client_options: Any) -> str:
    """A secret's current value from Key Vault; errors name the vault and the secret, never a value.

    ``credential``: how to reach the vault (default: ``DefaultAzureCredential`` without the
    interactive browser). ``client_options`` go to ``SecretClient`` (e.g. ``connection_verify``).
    """
    from azure.core.exceptions import AzureError
    from azure.keyvault.secrets import SecretClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    try:
        value = SecretClient(vault_url, credential, **client_options).get_secret(name).value
    except AzureError as exc:
        reason = str(getattr(exc, "message", "") or type(exc).__name__).splitlines()[0]
        raise AuthenticationException(f"could not read secret {name!r} from Key Vault {vault_url}: {reason}. "
                                      "Check the secret name and that this identity may get secrets "
                                      "(role 'Key Vault Secrets User')") from None
    if not value:
        raise AuthenticationException(f"secret {name!r} in Key Vault {vault_url} is empty")
    return value


def authentication_from_config(auth: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None, *,
                               keyvault_credential: TokenCredential | None = None,
                               keyvault_options: Mapping[str, Any] | None = None) -> AbstractAuthentication:
    """The sign-in an ``auth`` section asks for, first that can work:

    1. a service principal whose secret is in the environment variable ``client_secret_env``;
    2. a service principal whose secret is in Key Vault (``keyvault_url`` + ``keyvault_secret_name``);
    3. a person's sign-in (Azure CLI login if present, else a device code on a headless machine).
    """
    section = dict(auth or {})
    stored = [k for k in _SECRET_KEYS if section.get(k)]
    if stored:
        raise AuthenticationException(f"the auth section holds {stored[0]!r}: secrets are not read from files; "
                                      "name an environment variable in 'client_secret_env' or a Key Vault secret "
                                      "in 'keyvault_url' + 'keyvault_secret_name'")
    env = os.environ if environ is None else environ
    tenant = section.get("tenant_id")
    client_id = section.get("client_id") or section.get("service_principal_id")
    variable = section.get("client_secret_env")
    vault, secret_name = section.get("keyvault_url"), section.get("keyvault_secret_name")
    cloud, scope = str(section.get("cloud") or "AzureCloud"), (str(section["scope"]) if section.get("scope") else None)
    if client_id and tenant:
        if variable and env.get(str(variable)):
            return ServicePrincipalAuthentication(str(tenant), str(client_id), secret_from_env(str(variable), env),
                                                  cloud, scope=scope)
        if vault and secret_name:
            secret = keyvault_secret(str(vault), str(secret_name), keyvault_credential, **dict(keyvault_options or {}))
            return ServicePrincipalAuthentication(str(tenant), str(client_id), secret, cloud, scope=scope)
    elif client_id or variable or vault:
        raise AuthenticationException("the auth section needs both 'tenant_id' and 'client_id' for a service "
                                      "principal (or neither, to sign in as yourself)")
    return InteractiveLoginAuthentication(force=bool(section.get("device_code")), tenant_id=tenant or None,
                                          cloud=cloud, scope=scope)
