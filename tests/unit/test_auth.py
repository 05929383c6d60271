"""Server-side auth: every mode, and Entra tokens checked against a real loopback JWKS endpoint.

No Entra ID here: RSA keys are generated per session, a JWKS is served by an
HTTP server on 127.0.0.1, and tokens are minted with PyJWT.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwks_support import (
    CLIENT_ID,
    OTHER_TENANT,
    PUBLISH,
    READ,
    SUBMIT,
    TENANT,
    V1_ISSUER,
    V2_ISSUER,
    JwksServer,
    bearer,
    claims,
    hand_made,
    mint,
    new_key,
)
from jwks_support import jwk as _jwk

from pipeline_core.auth import (
    LOCAL_PRINCIPAL,
    AuthConfigError,
    AuthError,
    AuthSettings,
    JwksCache,
    Principal,
    authenticate,
    reset_shared_caches,
)
from pipeline_core.auth.jwks import UnknownKeyError, fetch_jwks

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {"k1": new_key(), "k2": new_key(), "attacker": new_key()}


@pytest.fixture
def jwks_server(keys: dict[str, rsa.RSAPrivateKey]) -> Iterator[JwksServer]:
    server = JwksServer([_jwk(keys["k1"], "k1")])
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_shared_caches()
    yield
    reset_shared_caches()


@pytest.fixture
def settings(jwks_server: JwksServer) -> AuthSettings:
    return AuthSettings(
        mode="entra",
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        jwks_url=jwks_server.url,
        jwks_min_refresh_seconds=0,
    )


def refused(
    headers: dict[str, str],
    settings: AuthSettings,
    status: int,
    code: str,
    *,
    role: str = READ,
    query: dict[str, str] | None = None,
    secret: str | None = None,
) -> AuthError:
    """Assert a refusal and that nothing secret leaked into what the client will see."""
    with pytest.raises(AuthError) as info:
        authenticate(headers, query or {}, role, settings)
    err = info.value
    assert (err.status, err.code) == (status, code), err.message
    visible = f"{err} {err!r} {err.to_dict()} {err.headers()}"
    for value in [*headers.values(), *(query or {}).values(), secret]:
        credential = (value or "").split(" ", 1)[-1]  # the token after the scheme, or the key itself
        if len(credential) >= 8:
            assert credential not in visible
    return err


# --------------------------------------------------------------------------- entra: accepted


def test_v2_token_accepted_with_implied_roles(settings: AuthSettings, keys: dict[str, Any]) -> None:
    principal = authenticate(bearer(mint(keys["k1"])), {}, SUBMIT, settings)
    assert principal.auth_mode == "entra"
    assert principal.id == "00000000-0000-0000-0000-00000000abcd"
    assert principal.name == "ada@contoso.com"
    assert principal.tenant_id == TENANT
    assert principal.roles == {READ, SUBMIT}
    assert not principal.is_application
    assert "roles" in principal.claims


def test_v1_issuer_and_app_id_uri_audience_accepted(settings: AuthSettings, keys: dict[str, Any]) -> None:
    token = mint(keys["k1"], iss=V1_ISSUER, aud=f"api://{CLIENT_ID}", idtyp="app", scp=None, roles=[READ])
    principal = authenticate(bearer(token), {}, READ, settings)
    assert principal.is_application


@pytest.mark.parametrize("scheme", ["Token", "token", "bearer", "BEARER"])
def test_token_and_bearer_schemes_any_case(settings: AuthSettings, keys: dict[str, Any], scheme: str) -> None:
    headers = {"authorization": f"{scheme} {mint(keys['k1'])}"}
    assert authenticate(headers, {}, READ, settings).roles == {READ, SUBMIT}


def test_publish_implies_submit_and_read(settings: AuthSettings, keys: dict[str, Any]) -> None:
    principal = authenticate(bearer(mint(keys["k1"], roles=[PUBLISH])), {}, SUBMIT, settings)
    assert principal.roles == {READ, SUBMIT, PUBLISH}


def test_expiry_within_leeway_accepted(settings: AuthSettings, keys: dict[str, Any]) -> None:
    token = mint(keys["k1"], exp=int(time.time()) - 30)
    assert authenticate(bearer(token), {}, READ, settings)


def test_settings_default_read_from_environment(
    monkeypatch: pytest.MonkeyPatch, jwks_server: JwksServer, keys: dict[str, Any]
) -> None:
    for name, value in {
        "AMLITE_AUTH": "entra",
        "AMLITE_TENANT_ID": TENANT,
        "AMLITE_CLIENT_ID": CLIENT_ID,
        "AMLITE_JWKS_URL": jwks_server.url,
    }.items():
        monkeypatch.setenv(name, value)
    assert authenticate(bearer(mint(keys["k1"])), {}, READ).name == "ada@contoso.com"


# --------------------------------------------------------------------------- entra: refused


def test_entra_refusals_are_distinct_and_never_echo_the_token(
    settings: AuthSettings, keys: dict[str, Any]
) -> None:
    k1, attacker = keys["k1"], keys["attacker"]
    pem = k1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    cases = [
        ({}, 401, "MissingToken"),
        ({"Authorization": "Bearer "}, 401, "MissingToken"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "UnsupportedAuthScheme"),
        (bearer("not-a-jwt"), 401, "MalformedToken"),
        (bearer(mint(k1, exp=now - 120)), 401, "TokenExpired"),
        (bearer(mint(k1, nbf=now + 600)), 401, "TokenNotYetValid"),
        (bearer(mint(k1, aud="api://someone-else")), 401, "InvalidAudience"),
        (
            bearer(mint(k1, iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0")),
            401,
            "InvalidIssuer",
        ),
        (bearer(mint(attacker, kid="k1")), 401, "InvalidSignature"),
        (bearer(mint(attacker, kid="made-up")), 401, "UnknownSigningKey"),
        (
            bearer(hand_made({"alg": "none", "kid": "k1", "typ": "JWT"}, claims(), None)),
            401,
            "UnsupportedAlgorithm",
        ),
        (
            bearer(hand_made({"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims(), pem)),
            401,
            "UnsupportedAlgorithm",
        ),
        (bearer(jwt.encode(claims(), k1, algorithm="RS256")), 401, "MissingKeyId"),
        (bearer(mint(k1, exp=None)), 401, "MissingClaim"),
        (bearer(mint(k1, roles=[READ])), 403, "MissingRole"),
        (bearer(mint(k1, roles=None)), 403, "MissingRole"),
    ]
    messages = {}
    for headers, status, code in cases:
        err = refused(headers, settings, status, code, role=SUBMIT)
        assert err.message not in messages.values(), f"{code} reuses the message of {messages}"
        messages[(code, len(messages))] = err.message
        assert ("WWW-Authenticate" in err.headers()) == (status == 401)


def test_messages_say_what_to_fix(settings: AuthSettings, keys: dict[str, Any]) -> None:
    k1 = keys["k1"]
    err = refused(bearer(mint(k1, aud="api://someone-else")), settings, 401, "InvalidAudience")
    assert f"api://{CLIENT_ID}" in err.message and ".default" in err.message
    err = refused(
        bearer(mint(k1, iss=V2_ISSUER.replace(TENANT, OTHER_TENANT))), settings, 401, "InvalidIssuer"
    )
    assert V1_ISSUER in err.message and V2_ISSUER in err.message
    err = refused(bearer(mint(k1, roles=[READ])), settings, 403, "MissingRole", role=PUBLISH)
    assert "'Pipelines.Publish'" in err.message and "ada@contoso.com" in err.message
    err = refused(bearer(mint(k1, exp=int(time.time()) - 120)), settings, 401, "TokenExpired")
    assert "leeway 60 s" in err.message


def test_key_rotation_refetches_on_unknown_kid(
    settings: AuthSettings, jwks_server: JwksServer, keys: dict[str, Any]
) -> None:
    assert authenticate(bearer(mint(keys["k1"])), {}, READ, settings)
    assert jwks_server.requests == 1
    assert authenticate(bearer(mint(keys["k1"])), {}, READ, settings)
    assert jwks_server.requests == 1, "known kid must be served from the cache"

    jwks_server.jwks = [_jwk(keys["k2"], "k2")]  # Entra rotates: k1 retired, k2 new
    assert authenticate(bearer(mint(keys["k2"], kid="k2")), {}, READ, settings)
    assert jwks_server.requests == 2
    refused(bearer(mint(keys["k1"])), settings, 401, "UnknownSigningKey")


def test_unknown_kid_refresh_is_rate_limited(jwks_server: JwksServer, keys: dict[str, Any]) -> None:
    now = [1000.0]
    cache = JwksCache(jwks_server.url, min_refresh_interval=60, clock=lambda: now[0])
    assert cache.get("k1")
    with pytest.raises(UnknownKeyError):
        cache.get("made-up")
    assert jwks_server.requests == 1, "keys fetched a moment ago: no refetch"
    now[0] += 61
    for _ in range(5):
        with pytest.raises(UnknownKeyError):
            cache.get("made-up")
    assert jwks_server.requests == 2, "one refetch for the unknown kid, then rate-limited"

    jwks_server.jwks.append(_jwk(keys["k2"], "k2"))
    with pytest.raises(UnknownKeyError):
        cache.get("k2")  # still inside the interval
    now[0] += 61
    assert cache.get("k2")
    assert jwks_server.requests == 3


def test_stale_keys_kept_when_routine_refresh_fails(jwks_server: JwksServer) -> None:
    now = [0.0]
    cache = JwksCache(jwks_server.url, max_age=100, min_refresh_interval=10, clock=lambda: now[0])
    assert cache.get("k1")
    jwks_server.close()
    now[0] = 200.0
    assert cache.get("k1"), "a JWKS outage must not lock out holders of valid tokens"


def test_jwks_unreachable_is_503(keys: dict[str, Any]) -> None:
    dead = JwksServer()
    dead.close()
    settings = AuthSettings(mode="entra", tenant_id=TENANT, client_id=CLIENT_ID, jwks_url=dead.url)
    refused(bearer(mint(keys["k1"])), settings, 503, "SigningKeysUnavailable")


def test_jwks_must_be_https_unless_loopback() -> None:
    from pipeline_core.auth.jwks import JwksFetchError

    with pytest.raises(JwksFetchError, match="https"):
        fetch_jwks("http://login.example.com/keys")
    settings = AuthSettings(
        mode="entra", tenant_id=TENANT, client_id=CLIENT_ID, jwks_url="http://example.com/k"
    )
    assert any("https" in p for p in settings.problems())


def test_arm_audience_off_by_default_and_without_roles_when_on(
    settings: AuthSettings, keys: dict[str, Any]
) -> None:
    arm_token = mint(keys["k1"], aud="https://management.azure.com/", roles=[PUBLISH])
    refused(bearer(arm_token), settings, 401, "InvalidAudience")

    arm = AuthSettings(**{**settings.__dict__, "accept_arm_audience": True})
    err = refused(bearer(arm_token), arm, 403, "MissingRole")
    assert "ARM tokens carry no amlite app roles" in err.message

    granted = AuthSettings(
        **{**arm.__dict__, "principal_roles": (("00000000-0000-0000-0000-00000000ABCD", SUBMIT),)}
    )
    assert authenticate(bearer(arm_token), {}, SUBMIT, granted).roles == {READ, SUBMIT}


def test_entra_without_tenant_is_a_config_error() -> None:
    with pytest.raises(AuthConfigError) as info:
        authenticate(bearer("x.y.z"), {}, READ, AuthSettings(mode="entra"))
    assert info.value.status == 403
    assert "AMLITE_TENANT_ID" in info.value.message and "AMLITE_CLIENT_ID" in info.value.message


# --------------------------------------------------------------------------- easyauth


def client_principal(roles: list[str], role_typ: str = "roles") -> str:
    doc = {
        "auth_typ": "aad",
        "name_typ": "preferred_username",
        "role_typ": role_typ,
        "claims": [
            {"typ": "preferred_username", "val": "grace@contoso.com"},
            {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "oid-1"},
            {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": TENANT},
            *({"typ": role_typ, "val": r} for r in roles),
        ],
    }
    return base64.b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def test_easyauth_on_trusts_client_principal() -> None:
    settings = AuthSettings(mode="easyauth", easyauth_enabled=True)
    principal = authenticate({"x-ms-client-principal": client_principal([SUBMIT])}, {}, SUBMIT, settings)
    assert (principal.id, principal.name, principal.auth_mode) == ("oid-1", "grace@contoso.com", "easyauth")
    assert principal.roles == {READ, SUBMIT} and principal.tenant_id == TENANT

    role_uri = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    headers = {"X-MS-CLIENT-PRINCIPAL": client_principal([PUBLISH], role_typ=role_uri)}
    assert authenticate(headers, {}, PUBLISH, settings).has_role(PUBLISH)


def test_easyauth_refusals() -> None:
    on = AuthSettings(mode="easyauth", easyauth_enabled=True)
    refused({}, on, 401, "MissingClientPrincipal")
    refused({"X-MS-CLIENT-PRINCIPAL": "%%%not base64"}, on, 401, "InvalidClientPrincipal")
    refused({"X-MS-CLIENT-PRINCIPAL": client_principal([READ])}, on, 403, "MissingRole", role=SUBMIT)


def test_easyauth_off_refuses_even_a_well_formed_principal() -> None:
    off = AuthSettings.from_env({"AMLITE_AUTH": "easyauth", "WEBSITE_SITE_NAME": "app"})
    err = refused({"X-MS-CLIENT-PRINCIPAL": client_principal([PUBLISH])}, off, 403, "EasyAuthNotEnabled")
    assert "WEBSITE_AUTH_ENABLED" in err.message and "Authentication" in err.message
    on = AuthSettings.from_env({"AMLITE_AUTH": "easyauth", "WEBSITE_AUTH_ENABLED": "True"})
    assert on.easyauth_enabled


# --------------------------------------------------------------------------- key


KEY_SETTINGS = AuthSettings(mode="key", function_keys=("old-key-aaaa", "current-key-bbbb"))


def test_key_mode_accepts_header_or_code_query() -> None:
    principal = authenticate({"X-Functions-Key": "current-key-bbbb"}, {}, PUBLISH, KEY_SETTINGS)
    assert principal.id == "function-key-1" and principal.auth_mode == "key"
    assert authenticate({}, {"code": "old-key-aaaa"}, SUBMIT, KEY_SETTINGS).id == "function-key-0"


def test_key_mode_refusals() -> None:
    refused({}, KEY_SETTINGS, 401, "MissingFunctionKey")
    refused(
        {"x-functions-key": "wrong-key-cccc"},
        KEY_SETTINGS,
        401,
        "InvalidFunctionKey",
        secret="current-key-bbbb",
    )
    refused({}, KEY_SETTINGS, 401, "InvalidFunctionKey", query={"code": "current-key-bbbb-extra"})
    refused({"x-functions-key": "k"}, AuthSettings(mode="key"), 403, "AuthNotConfigured")


def test_function_keys_hidden_from_repr() -> None:
    settings = AuthSettings.from_env({"AMLITE_AUTH": "key", "AMLITE_FUNCTION_KEYS": "s3cret-1, s3cret-2"})
    assert settings.function_keys == ("s3cret-1", "s3cret-2")
    assert "s3cret" not in repr(settings) and "2 hidden" in repr(settings)


# --------------------------------------------------------------------------- none


def test_none_mode_locally() -> None:
    settings = AuthSettings.from_env({"AMLITE_AUTH": "none", "AZURE_FUNCTIONS_ENVIRONMENT": "Development"})
    assert authenticate({}, {}, PUBLISH, settings) == LOCAL_PRINCIPAL
    assert AuthSettings.from_env({}).mode == "none", "unset AMLITE_AUTH means none locally"


@pytest.mark.parametrize("marker", ["WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"])
def test_none_mode_refused_in_azure(marker: str) -> None:
    env = {"AMLITE_AUTH": "none", marker: "x", "AZURE_FUNCTIONS_ENVIRONMENT": "Development"}
    err = refused({}, AuthSettings.from_env(env), 403, "AuthNoneRefused")
    assert "entra, easyauth or key" in err.message and "Development does not change this" in err.message
    assert AuthSettings.from_env({marker: "x"}).mode == "entra", "unset AMLITE_AUTH means entra in Azure"


# --------------------------------------------------------------------------- settings and contract


def test_from_env_parses_every_setting() -> None:
    settings = AuthSettings.from_env(
        {
            "AMLITE_AUTH": "ENTRA",
            "AMLITE_TENANT_ID": TENANT,
            "AMLITE_CLIENT_ID": CLIENT_ID,
            "AMLITE_AUDIENCES": "https://amlite.contoso.com, api://x",
            "AMLITE_ACCEPT_ARM_AUDIENCE": "true",
            "AMLITE_PRINCIPAL_ROLES": f"oid-a={SUBMIT},oid-b={READ}",
            "AMLITE_ALLOWED_ISSUERS": V2_ISSUER,
            "AMLITE_JWKS_URL": "https://keys.example/keys",
            "AMLITE_JWT_LEEWAY_SECONDS": "30",
            "AMLITE_JWKS_CACHE_SECONDS": "600",
            "AMLITE_JWKS_MIN_REFRESH_SECONDS": "5",
        }
    )
    assert settings.mode == "entra"
    assert settings.effective_audiences() == (
        CLIENT_ID,
        f"api://{CLIENT_ID}",
        "https://amlite.contoso.com",
        "api://x",
    )
    assert settings.effective_issuers() == (V2_ISSUER,)
    assert settings.effective_jwks_url() == "https://keys.example/keys"
    assert (settings.leeway_seconds, settings.jwks_cache_seconds, settings.jwks_min_refresh_seconds) == (
        30,
        600,
        5,
    )
    assert settings.roles_for_object_id("OID-A") == {SUBMIT}
    assert settings.problems() == []
    default = AuthSettings.from_env({"AMLITE_AUTH": "entra", "AMLITE_TENANT_ID": TENANT})
    assert default.effective_jwks_url() == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"
    assert default.effective_issuers() == (V1_ISSUER, V2_ISSUER)


@pytest.mark.parametrize(
    "env",
    [
        {"AMLITE_AUTH": "basic"},
        {"AMLITE_ACCEPT_ARM_AUDIENCE": "maybe"},
        {"AMLITE_JWT_LEEWAY_SECONDS": "-1"},
        {"AMLITE_PRINCIPAL_ROLES": "oid=Pipelines.Admin"},
    ],
)
def test_from_env_rejects_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(AuthConfigError) as info:
        AuthSettings.from_env(env)
    assert next(iter(env)) in info.value.message


def test_unknown_required_role_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Pipelines.Read"):
        authenticate({}, {}, "Pipelines.Reed", AuthSettings(mode="none"))


def test_error_body_shape() -> None:
    err = AuthError(401, "MissingToken", "No access token")
    assert err.to_dict() == {"error": {"code": "MissingToken", "message": "No access token", "details": []}}
    assert err.headers()["WWW-Authenticate"].startswith("Bearer ")
    assert AuthError(403, "MissingRole", "m").headers() == {}
    assert isinstance(LOCAL_PRINCIPAL, Principal)


def test_pipeline_core_auth_does_not_import_azure_functions() -> None:
    import pathlib

    import pipeline_core.auth as package

    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "azure.functions" not in text.replace("``azure.functions``", ""), path
