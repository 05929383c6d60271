"""``entra`` mode: validate an Entra ID access token in the app.

Checks, in order, each with its own 401 code: a token is present
(``Bearer``/``Token`` scheme), it is a JWT, it is RS256 (``none`` and HS*
are refused before any key is looked at: HS256 "signed" with our public key is
the classic confusion attack), its issuer is the tenant's v1 or v2 issuer, its
``kid`` is in the tenant's JWKS, the signature verifies, it has not expired
(with leeway), and its audience is ours (or ARM's, when enabled).

Roles come from the ``roles`` claim only when the token was issued for our API:
an ARM token's ``roles`` belong to ARM, so for those only
``AMLITE_PRINCIPAL_ROLES`` grants count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from .errors import AuthError
from .headers import bearer_token
from .jwks import JwksCache, JwksFetchError, UnknownKeyError, shared_cache
from .principal import Principal, expand_roles
from .settings import ARM_AUDIENCES, AuthSettings

ALGORITHM = "RS256"


def _short(value: object, limit: int = 80) -> str:
    """Quote a claim value for a message, bounded (claims are attacker-chosen)."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _when(epoch: object) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return "an invalid time"


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        head = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt_errors.PyJWTError:
        raise AuthError(
            401, "MalformedToken", "Access token is not a well-formed JWT (three base64url parts of JSON)"
        ) from None
    return head, claims


def _check_header(head: Mapping[str, Any]) -> str:
    alg = head.get("alg")
    if alg != ALGORITHM:
        raise AuthError(
            401,
            "UnsupportedAlgorithm",
            f"Token algorithm {_short(alg, 20)} is not accepted: only {ALGORITHM}-signed Entra ID tokens are",
        )
    kid = head.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError(401, "MissingKeyId", "Token header has no 'kid', so its signing key cannot be found")
    return kid


def _check_issuer(claims: Mapping[str, Any], issuers: tuple[str, ...]) -> None:
    iss = claims.get("iss")
    if iss not in issuers:
        raise AuthError(
            401,
            "InvalidIssuer",
            f"Token issuer {_short(iss)} is not accepted; expected one of {list(issuers)} "
            "(a token from another tenant? otherwise set AMLITE_TENANT_ID or AMLITE_ALLOWED_ISSUERS)",
        )


def _signing_key(cache: JwksCache, kid: str) -> jwt.PyJWK:
    try:
        return cache.get(kid)
    except UnknownKeyError:
        raise AuthError(
            401,
            "UnknownSigningKey",
            f"Token is signed with key id {_short(kid, 60)}, which is not in the tenant's signing keys "
            f"({cache.url}): not an Entra ID token for this tenant, or signed by a retired key",
        ) from None
    except JwksFetchError as exc:
        raise AuthError(503, "SigningKeysUnavailable", f"Cannot check tokens right now: {exc}") from None


def _decode(
    token: str, key: jwt.PyJWK, claims: Mapping[str, Any], settings: AuthSettings, audiences: list[str]
) -> dict[str, Any]:
    """Full verification; each PyJWT failure becomes its own code and message."""
    leeway = settings.leeway_seconds
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audiences,
            issuer=list(settings.effective_issuers()),
            leeway=leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt_errors.InvalidSignatureError:
        msg = "Token signature does not verify against the tenant's signing key: the token was altered or forged"
        raise AuthError(401, "InvalidSignature", msg) from None
    except jwt_errors.ExpiredSignatureError:
        msg = f"Access token expired at {_when(claims.get('exp'))} (leeway {leeway:g} s): get a new token"
        raise AuthError(401, "TokenExpired", msg) from None
    except jwt_errors.ImmatureSignatureError:
        msg = f"Access token is not valid before {_when(claims.get('nbf'))}: check the client's clock"
        raise AuthError(401, "TokenNotYetValid", msg) from None
    except jwt_errors.MissingRequiredClaimError as exc:
        raise AuthError(401, "MissingClaim", f"Access token has no {exc.claim!r} claim") from None
    except jwt_errors.InvalidAudienceError:
        got = _as_list(claims.get("aud")) or [str(claims.get("aud"))]
        scope = f"{audiences[0].rstrip('/')}/.default" if audiences else "<amlite API>/.default"
        msg = (
            f"Token audience {_short(', '.join(got))} is not accepted; expected one of {audiences} "
            f"(request the token for scope {scope!r})"
        )
        raise AuthError(401, "InvalidAudience", msg) from None
    except jwt_errors.InvalidIssuerError:
        _check_issuer(claims, settings.effective_issuers())
        raise AuthError(401, "InvalidIssuer", "Token issuer is not accepted") from None
    except jwt_errors.InvalidAlgorithmError:
        raise AuthError(401, "UnsupportedAlgorithm", f"Only {ALGORITHM}-signed tokens are accepted") from None
    except jwt_errors.PyJWTError as exc:
        msg = f"Access token is invalid ({type(exc).__name__})"
        raise AuthError(401, "InvalidToken", msg) from None


def _principal(claims: dict[str, Any], settings: AuthSettings, own_audiences: tuple[str, ...]) -> Principal:
    oid = claims.get("oid") if isinstance(claims.get("oid"), str) else None
    for_us = bool(set(_as_list(claims.get("aud"))) & set(own_audiences))
    token_roles = _as_list(claims.get("roles")) if for_us else []
    principal_id = oid or str(claims.get("sub", ""))
    name = next(
        (
            claims[k]
            for k in ("preferred_username", "upn", "unique_name", "app_displayname", "appid", "azp")
            if isinstance(claims.get(k), str)
        ),
        principal_id,
    )
    is_app = claims.get("idtyp") == "app" or not any(
        k in claims for k in ("scp", "upn", "preferred_username")
    )
    return Principal(
        id=principal_id,
        name=name,
        auth_mode="entra",
        roles=expand_roles([*token_roles, *settings.roles_for_object_id(oid)]),
        tenant_id=claims.get("tid") if isinstance(claims.get("tid"), str) else None,
        is_application=is_app,
        claims=claims,
    )


def authenticate_entra(
    headers: Mapping[str, str], settings: AuthSettings, cache: JwksCache | None = None
) -> Principal:
    """Validate the request's Entra ID token; ``cache`` defaults to the process-wide one."""
    token = bearer_token(headers)
    head, unverified = _unverified(token)
    kid = _check_header(head)
    _check_issuer(unverified, settings.effective_issuers())
    if cache is None:
        url = settings.effective_jwks_url()
        assert url is not None  # guaranteed by AuthSettings.config_errors()
        cache = shared_cache(
            url, max_age=settings.jwks_cache_seconds, min_refresh_interval=settings.jwks_min_refresh_seconds
        )
    key = _signing_key(cache, kid)
    own = settings.effective_audiences()
    audiences = [*own, *(ARM_AUDIENCES if settings.accept_arm_audience else ())]
    claims = _decode(token, key, unverified, settings, audiences)
    return _principal(claims, settings, own)
