"""Signing keys from a JWKS endpoint, cached, with rate-limited refresh.

Entra rotates its signing keys without notice; a token signed with a new key
carries a ``kid`` we have not seen. So an unknown ``kid`` triggers a refetch,
but at most once per ``min_refresh_interval``: otherwise anyone could make every
request cost an outbound call by inventing ``kid`` values. Keys are also
refetched routinely after ``max_age``; if that fetch fails, the old keys stay in
use (a JWKS outage should not lock everybody out).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PyJWT (and cryptography under it) load when keys are first parsed, not with the app
    from jwt import PyJWK

from pipeline_core.errors import JwksFetchError as JwksFetchError
from pipeline_core.errors import UnknownKeyError as UnknownKeyError

from .settings import is_loopback_url

log = logging.getLogger(__name__)

_MAX_BYTES = 1 << 20



def fetch_jwks(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET the JWKS document; https only, except on loopback hosts."""
    if not url.startswith("https://") and not (url.startswith("http://") and is_loopback_url(url)):
        raise JwksFetchError(f"JWKS URL {url!r} must use https (plain http only on a loopback host)")
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "amlite"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            body = response.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise JwksFetchError(f"could not fetch signing keys from {url}: {exc}") from exc
    if len(body) > _MAX_BYTES:
        raise JwksFetchError(f"signing key document at {url} is larger than {_MAX_BYTES} bytes")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise JwksFetchError(f"signing key document at {url} is not JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise JwksFetchError(f"signing key document at {url} has no 'keys' list")
    return doc


def _parse_keys(doc: dict[str, Any]) -> dict[str, PyJWK]:
    """RSA signing keys by kid; other key types and malformed entries are skipped."""
    from jwt import PyJWK
    from jwt.exceptions import PyJWKError

    keys: dict[str, PyJWK] = {}
    for entry in doc["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = PyJWK(entry, algorithm="RS256")
        except PyJWKError as exc:
            log.warning("skipping unusable JWKS key %s: %s", kid, exc)
    return keys


class JwksCache:
    """Thread-safe cache of one JWKS URL's keys.

    ``fetch`` and ``clock`` are injectable so tests can count fetches and move
    time without sleeping.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 86400.0,
        min_refresh_interval: float = 60.0,
        timeout: float = 5.0,
        fetch: Callable[[str, float], dict[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self.fetch_count = 0

    def __repr__(self) -> str:
        return f"JwksCache(url={self.url!r}, keys={sorted(self._keys or {})})"

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refresh_interval

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetch_count += 1
        keys = _parse_keys(self._fetch(self.url, self.timeout))
        if not keys:
            raise JwksFetchError(f"signing key document at {self.url} has no usable RSA signing keys")
        self._keys = keys
        self._fetched_at = now
        log.info("fetched %d signing keys from %s", len(keys), self.url)

    def get(self, kid: str) -> PyJWK:
        """The key for ``kid``; raises :class:`UnknownKeyError` or :class:`JwksFetchError`."""
        with self._lock:
            now = self._clock()
            if self._keys is None:
                if not self._may_fetch(now):
                    raise JwksFetchError(
                        f"signing keys from {self.url} are unavailable (last fetch failed); retrying shortly"
                    )
                self._refresh(now)
            elif now - self._fetched_at >= self.max_age and self._may_fetch(now):
                try:
                    self._refresh(now)
                except JwksFetchError as exc:
                    log.warning("routine JWKS refresh failed, keeping cached keys: %s", exc)
            assert self._keys is not None
            if kid in self._keys:
                return self._keys[kid]
            if not self._may_fetch(now):
                raise UnknownKeyError(kid)
            self._refresh(now)
            if kid in self._keys:
                return self._keys[kid]
            raise UnknownKeyError(kid)


_caches: dict[str, JwksCache] = {}
_caches_lock = threading.Lock()


def shared_cache(url: str, *, max_age: float, min_refresh_interval: float) -> JwksCache:
    """The process-wide cache for ``url`` (one per URL, so keys survive across requests)."""
    with _caches_lock:
        cache = _caches.get(url)
        if cache is None or (cache.max_age, cache.min_refresh_interval) != (max_age, min_refresh_interval):
            cache = _caches[url] = JwksCache(url, max_age=max_age, min_refresh_interval=min_refresh_interval)
        return cache


def reset_shared_caches() -> None:
    """Forget all cached key sets (tests; or after changing AMLITE_JWKS_URL in-process)."""
    with _caches_lock:
        _caches.clear()
