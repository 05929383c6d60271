"""The starter template's auth section: env-var secret, then Key Vault (over HTTPS to a local stand-in), then sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyvault_support import LocalKeyVault, VaultCredential

from pipeline_core.core.auth_config import authentication_from_config
from pipeline_core.core.authentication import (
    AuthenticationException,
    InteractiveLoginAuthentication,
    ServicePrincipalAuthentication,
)

SP = {"tenant_id": "00000000-0000-0000-0000-000000000001", "client_id": "00000000-0000-0000-0000-0000000000aa"}


def test_the_secret_comes_from_the_named_environment_variable_first() -> None:
    auth = authentication_from_config({**SP, "client_secret_env": "STARTER_SP_SECRET",
                                       "keyvault_url": "https://unused.vault.azure.net", "keyvault_secret_name": "x"},
                                      environ={"STARTER_SP_SECRET": "from-env"})
    assert isinstance(auth, ServicePrincipalAuthentication)
    assert auth._secret.reveal() == "from-env" and "from-env" not in repr(auth)


def test_without_the_variable_the_secret_is_read_from_key_vault(tmp_path: Path) -> None:
    credential = VaultCredential()
    with LocalKeyVault(tmp_path, {"starter-sp-secret": "from-vault"}) as vault:
        auth = authentication_from_config({**SP, "client_secret_env": "STARTER_SP_SECRET", "keyvault_url": vault.url,
                                           "keyvault_secret_name": "starter-sp-secret"}, environ={},
                                          keyvault_credential=credential, keyvault_options=vault.client_options)
        assert isinstance(auth, ServicePrincipalAuthentication) and auth._secret.reveal() == "from-vault"
        assert [a for _, a in vault.requests] == [None, "Bearer local-keyvault-token"]  # challenge, then the token
        assert credential.scopes == [("https://vault.azure.net/.default",)]

        with pytest.raises(AuthenticationException, match="could not read secret 'missing' from Key Vault") as caught:
            authentication_from_config({**SP, "keyvault_url": vault.url, "keyvault_secret_name": "missing"},
                                       environ={}, keyvault_credential=credential,
                                       keyvault_options=vault.client_options)
        assert "from-vault" not in str(caught.value)


def test_with_no_secret_anywhere_a_person_signs_in() -> None:
    assert isinstance(authentication_from_config({**SP, "client_secret_env": "UNSET_VARIABLE"}, environ={}),
                      InteractiveLoginAuthentication)
    assert isinstance(authentication_from_config(None, environ={}), InteractiveLoginAuthentication)


def test_secrets_in_the_file_and_half_a_service_principal_are_refused() -> None:
    with pytest.raises(AuthenticationException, match="holds 'client_secret'"):
        authentication_from_config({**SP, "client_secret": "oops"}, environ={})
    with pytest.raises(AuthenticationException, match="needs both 'tenant_id' and 'client_id'"):
        authentication_from_config({"client_id": "x", "client_secret_env": "V"}, environ={"V": "s"})
