"""``ServiceError``: what every service function raises for a request it refuses (ARCHITECTURE §7).

Why one exception with a status: the HTTP layer stays a thin wrapper, it
answers ``err.status`` with ``err.to_body()`` and needs no knowledge of what
went wrong. Domain errors raised by shared SDK/service code (not found, a
disabled pipeline, a bad parameter) carry their own ``status``, ``code`` and
``parameter`` (:mod:`pipeline_core.errors`); :func:`from_exception` copies
them into the answer, so a caller's mistake can never surface as a 500 and no
field name is guessed from a message.
A storage account that does not answer is mapped here too: 503
``StorageUnavailable`` with ``Retry-After``, never a 500 carrying the
exception's text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from pipeline_core.errors import AmliteError, ConcurrencyError, StorageUnavailableError, ValidationError
from pipeline_core.errors import ConflictError as ConflictError
from pipeline_core.errors import ServiceError as ServiceError

#: What a 503 asks the caller to wait before retrying (the SDK client honours it).
RETRY_AFTER_SECONDS = 5
#: Storage answers that mean "not now" rather than "no".
_TRANSIENT_STORAGE_STATUSES = frozenset({408, 500, 502, 503, 504})


def bad_request(message: str, target: str | None = None, code: str = "BadRequest") -> ServiceError:
    details = [{"target": target, "message": message}] if target else []
    return ServiceError(400, code, message, details)


def not_found(message: str, code: str = "NotFound") -> ServiceError:
    return ServiceError(404, code, message)


def is_storage_outage(exc: BaseException) -> bool:
    """True when storage could not be reached or answered "try later" (a refused connection, a timeout, a 5xx)."""
    if isinstance(exc, StorageUnavailableError | ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in _TRANSIENT_STORAGE_STATUSES


def storage_unavailable() -> ServiceError:
    """The 503 for a storage outage. The message holds no exception text: it would name the account and its URL."""
    return ServiceError(503, "StorageUnavailable",
                        "The storage account that holds pipelines and runs is not answering right now (it may be "
                        f"restarting or unreachable); retry in {RETRY_AFTER_SECONDS} seconds. A submit retried with "
                        "the same Idempotency-Key never creates a second run.",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def from_exception(exc: BaseException, field: Callable[[str], str] | None = None) -> ServiceError | None:
    """The HTTP answer for an amlite error or a storage outage; None for anything else (a real server fault).

    The answer takes the error's own ``status`` and ``code``; its ``parameter`` names the field in
    ``details`` (through ``field``, which turns a library name into the request's field name, when given).
    A server-side amlite error (5xx) is a fault like any other: None, so it is logged, not answered.
    """
    if isinstance(exc, ServiceError):
        return exc
    if is_storage_outage(exc):
        return storage_unavailable()
    if not isinstance(exc, AmliteError) or not exc.caller_error:
        return None
    message = str(exc)
    if isinstance(exc, ConcurrencyError):
        message = f"{message}; retry the request"
    if isinstance(exc, ValidationError):
        details: list[Any] = [{"message": problem} for problem in exc.errors]
    elif exc.parameter:
        details = [{"target": field(exc.parameter) if field else exc.parameter, "message": message}]
    else:
        details = []
    return ServiceError(exc.status, exc.code, message, details)
