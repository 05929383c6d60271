"""``AMLITE_AUTH=entra`` over HTTP: tokens from a local test issuer, checked against its loopback JWKS."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from http_support import error_of, on_host, wait_status
from jwks_support import CLIENT_ID, OTHER_TENANT, READ, SUBMIT, LocalIssuer, claims, hand_made, mint

from pipeline_core import PublishedPipeline

pytestmark = pytest.mark.integration


def test_aml_snippet_with_a_valid_token_starts_a_run(entra_auth: LocalIssuer, http_base: str,
                                                     echo_published: PublishedPipeline) -> None:
    """The acceptance case: AML's notebook REST call, with a token from the (local) tenant."""
    rest_endpoint = on_host(echo_published.endpoint, http_base)
    aad_token = {"Authorization": f"Bearer {mint(entra_auth.key)}"}
    response = requests.post(rest_endpoint, headers=aad_token,
                             json={"ExperimentName": "My_Pipeline", "ParameterAssignments": {"pipeline_arg": 20}})
    assert response.status_code == 202, response.text
    run_id = response.json()["Id"]
    reader = {"Authorization": f"Bearer {mint(entra_auth.key, roles=[READ])}"}
    answer = requests.get(f"{http_base}/api/runs/{run_id}", headers=reader, timeout=10)
    assert answer.status_code == 200 and answer.json()["ParameterAssignments"]["pipeline_arg"] == 20
    assert requests.get(f"{http_base}/api/runs/{run_id}", timeout=10).status_code == 401
    assert wait_status(http_base, run_id, timeout=60, statuses=("Finished", "Failed", "Canceled"),
                       headers=reader) == "Finished"
    token_scheme = {"Authorization": f"Token {mint(entra_auth.key)}"}  # what AML v1 docs also show
    again = requests.post(rest_endpoint, headers=token_scheme, json={"ExperimentName": "My_Pipeline"})
    assert again.status_code == 202, again.text
    wait_status(http_base, again.json()["Id"], headers=reader)


def test_refusals_are_distinct_and_never_echo_the_token(entra_auth: LocalIssuer, http_base: str,
                                                        echo_published: PublishedPipeline) -> None:
    key, attacker = entra_auth.key, entra_auth.attacker
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    cases = [
        ("no token", None, 401, "MissingToken"),
        ("expired", mint(key, exp=now - 3600, iat=now - 7200, nbf=now - 7200), 401, "TokenExpired"),
        ("wrong audience", mint(key, aud="api://someone-else"), 401, "InvalidAudience"),
        ("wrong issuer", mint(key, iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"), 401,
         "InvalidIssuer"),
        ("bad signature", mint(attacker, kid="k1"), 401, "InvalidSignature"),
        ("alg none", hand_made({"alg": "none", "kid": "k1", "typ": "JWT"}, claims(), None), 401,
         "UnsupportedAlgorithm"),
        ("HS256 with the public key", hand_made({"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims(), pem), 401,
         "UnsupportedAlgorithm"),
        ("missing role", mint(key, roles=[READ]), 403, "MissingRole"),
        ("no roles at all", mint(key, roles=None), 403, "MissingRole"),
    ]
    url = on_host(echo_published.endpoint, http_base)
    experiment = f"refused-{uuid.uuid4().hex[:8]}"
    messages: dict[str, str] = {}
    for label, token, status, code in cases:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        answer = requests.post(url, headers=headers, json={"ExperimentName": experiment}, timeout=10)
        error = error_of(answer, status)
        assert error["code"] == code, (label, error)
        assert ("WWW-Authenticate" in answer.headers) == (status == 401), label
        if token is not None:
            visible = answer.text + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
            for part in [token, *token.split(".")]:
                assert len(part) < 8 or part not in visible, f"{label}: the token is echoed"
        messages[label] = error["message"]
    assert len(set(messages.values())) == len(messages), messages
    assert f"api://{CLIENT_ID}" in messages["wrong audience"] and ".default" in messages["wrong audience"]
    assert OTHER_TENANT in messages["wrong issuer"]
    assert SUBMIT in messages["missing role"] and "ada@contoso.com" in messages["missing role"]
    listed = requests.get(f"{http_base}/api/experiments/{experiment}/runs",
                          headers={"Authorization": f"Bearer {mint(key, roles=[READ])}"}, timeout=10)
    assert listed.status_code == 200 and listed.json()["Value"] == [], "a refused request must not create a run"


def test_unconfigured_entra_is_refused_not_a_crash(entra_auth: LocalIssuer, http_base: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMLITE_TENANT_ID")
    answer = requests.get(f"{http_base}/api/openapi.json", headers={"Authorization": f"Bearer {mint(entra_auth.key)}"},
                          timeout=10)
    error = error_of(answer, 403)
    assert error["code"] == "AuthNotConfigured" and "AMLITE_TENANT_ID" in error["message"]
    monkeypatch.setenv("AMLITE_AUTH", "sometimes")
    error = error_of(requests.get(f"{http_base}/api/openapi.json", timeout=10), 403)
    assert "AMLITE_AUTH" in error["message"]
