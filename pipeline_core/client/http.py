"""``RestClient``: one ``requests.Session`` to an amlite Functions app, with timeouts, retries and typed errors.

Why these retry rules:
- 429 and 503 are retried for every method: the Functions front end (or the
  app's JWKS fetch) refused the request before any handler ran, so repeating
  it cannot do anything twice. ``Retry-After`` is honoured; otherwise the wait
  doubles from ``backoff`` with jitter, so many clients do not retry in step.
  The exception: a 503 the handler itself answered (``StorageUnavailable``,
  ``RunNotStarted``) may follow a partial write, so it is retried only when
  repeating is safe (below).
- A failed connection or a timeout is retried only when repeating is safe:
  GET, or a POST carrying an ``Idempotency-Key`` (the server answers a repeated
  key with the first run instead of creating a second one).
Every other answer >= 400 becomes a :class:`~pipeline_core.client.errors.RemoteError`
subclass carrying the server's message.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from pipeline_core.client.errors import RemoteError, RemoteServerError, error_from_response

log = logging.getLogger("amlite.client")

HeaderProvider = Callable[[], dict[str, str]]
RETRY_STATUSES = frozenset({429, 503})
#: 503 codes a handler answers after it may have written something (see the module docstring).
HANDLER_UNAVAILABLE_CODES = frozenset({"StorageUnavailable", "RunNotStarted"})
#: (connect, read) seconds: connecting should be quick; a submit may wait on storage for a while.
DEFAULT_TIMEOUT = (10.0, 60.0)
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "amlite-sdk/1"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_code(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


class RestClient:
    """HTTP to ``base_url`` (``scheme://host[:port]``; paths carry ``/api``).

    ``headers`` is called before each attempt, so a token that expires during
    a long wait is refreshed. ``sleep`` is injectable so tests of the backoff
    do not wait.
    """

    def __init__(self, base_url: str, headers: HeaderProvider | None = None, *,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, max_retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 30.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        base = base_url.strip().rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        if not base.startswith(("http://", "https://")):
            raise RemoteError(0, "InvalidEndpoint", f"workspace endpoint {base_url!r} must be an http(s) URL, e.g. "
                                                    "https://<app>.azurewebsites.net")
        self.base_url = base
        self._headers = headers or dict
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        if session is None:
            session = requests.Session()
            # Loopback (a dev host) never goes through a proxy; an HTTP(S)_PROXY without NO_PROXY would
            # otherwise send 127.0.0.1 to the proxy. Remote endpoints keep the environment's proxy settings.
            session.trust_env = not is_loopback(base)
        self.session = session
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self._sleep = sleep

    def url(self, path: str) -> str:
        """An absolute URL for ``path``; absolute URLs (``PublishedPipeline.endpoint``) pass through."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        hinted = _retry_after(response.headers.get("Retry-After")) if response is not None else None
        if hinted is not None:
            return min(hinted, self.max_backoff)
        return min(self.backoff * (2 ** attempt), self.max_backoff) * random.uniform(0.5, 1.0)

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, repeatable: bool = False) -> requests.Response:
        """Send with retries; return a 2xx/3xx response or raise a ``RemoteError`` subclass.

        ``repeatable``: the request is safe to send twice by its nature (enable, disable, set a default), so a
        dropped connection is retried like a GET.
        """
        method = method.upper()
        url = self.url(path)
        extra = dict(headers or {})
        repeatable = repeatable or method in ("GET", "HEAD") or IDEMPOTENCY_HEADER in extra
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, json=json, params=params,
                                                headers={**self._headers(), **extra}, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not repeatable or attempt >= self.max_retries:
                    raise RemoteServerError(0, "ConnectionFailed",
                                            f"{method} {url} failed: {type(exc).__name__}: {exc}; check the "
                                            "workspace endpoint (config.json 'endpoint' or AMLITE_ENDPOINT) and that "
                                            "the Functions app is running", url=url, method=method) from None
                delay = self._delay(attempt, None)
                log.info("%s %s: %s; retrying in %.2f s", method, url, type(exc).__name__, delay)
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries \
                        or (not repeatable and _error_code(response) in HANDLER_UNAVAILABLE_CODES):
                    error = error_from_response(response.status_code, response.content, method, url,
                                                response.reason or "")
                    if response.status_code in RETRY_STATUSES:
                        error.message = f"{error.message} (still HTTP {response.status_code} after {attempt + 1} " \
                                        "attempts; try again later)"
                    raise error
                delay = self._delay(attempt, response)
                log.info("%s %s answered %s; retrying in %.2f s", method, url, response.status_code, delay)
            attempt += 1
            self._sleep(delay)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any = None, params: Mapping[str, Any] | None = None, *,
                  idempotent: bool = False, repeatable: bool = False) -> Any:
        """POST ``body``; ``idempotent`` adds a fresh ``Idempotency-Key`` so retries cannot create two runs;
        ``repeatable`` marks a POST the server treats as idempotent anyway (see :meth:`request`)."""
        headers = {IDEMPOTENCY_HEADER: str(uuid.uuid4())} if idempotent else {}
        response = self.request("POST", path, json=body, params=params, headers=headers, repeatable=repeatable)
        return response.json() if response.content else None

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"
