"""Retrying a running step's writes through a storage outage, so the step's work is not lost to it.

Why on top of the SDK's own retries: those give up after a few seconds for Tables
(three connection retries) and about a minute for Blobs; a step that has computed
for an hour should wait minutes for storage to come back rather than fail. Only
errors that say "storage did not answer" are retried; an answer (404, 409, 412,
a refused transition) is returned to the caller at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

log = logging.getLogger("amlite.engine")

T = TypeVar("T")

#: Per-call option for a step's Blob writes: no SDK retries (the Blob client waits 15 s and more between
#: tries, so it would notice storage is back long after it is); ``retry_storage`` retries with short waits.
NO_SDK_RETRY: dict[str, Any] = {"retry_total": 0}
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def is_storage_outage(exc: BaseException) -> bool:
    """True for "no answer" (connection refused, reset, timed out) and for the service's busy answers."""
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in TRANSIENT_STATUS
    return False


def retry_storage(what: str, call: Callable[[], T], deadline_seconds: float,
                  first_wait: float = 0.5, max_wait: float = 3.0) -> T:
    """``call()``, repeated with backoff while storage is out, for at most ``deadline_seconds``.

    ``call`` must be safe to repeat (an overwrite, an ETag-guarded transition that re-reads
    on a conflict); after the deadline the last error is raised.
    """
    deadline = time.monotonic() + deadline_seconds
    wait = first_wait
    failures = 0
    while True:
        try:
            result = call()
        except Exception as exc:
            if not is_storage_outage(exc) or time.monotonic() + wait > deadline:
                raise
            failures += 1
            if failures == 1:
                log.warning("%s: storage did not answer (%s); retrying for up to %.0f s",
                            what, type(exc).__name__, deadline_seconds)
            time.sleep(wait)
            wait = min(max_wait, wait * 2)
            continue
        if failures:
            log.info("%s: done after %d retries", what, failures)
        return result
