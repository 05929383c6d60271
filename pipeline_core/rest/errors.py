"""``ServiceError``: what every service function raises for a request it refuses (ARCHITECTURE §7).

Why one exception with a status: the HTTP layer stays a thin wrapper, it
answers ``err.status`` with ``err.to_body()`` and needs no knowledge of what
went wrong. Domain errors raised by shared SDK/service code (not found, a
disabled pipeline, a bad parameter) are mapped here once, in
:func:`from_exception`, so a caller's mistake can never surface as a 500.
A storage account that does not answer is mapped here too: 503
``StorageUnavailable`` with ``Retry-After``, never a 500 carrying the
exception's text.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from pipeline_core.application.errors import ConflictError
from pipeline_core.engine.submit import ParameterError
from pipeline_core.errors import AmliteError, ConcurrencyError, NotFoundError, ValidationError
from pipeline_core.storage.account import StorageUnavailableError
from pipeline_core.storage.endpoint_store import NameTakenError

#: What a 503 asks the caller to wait before retrying (the SDK client honours it).
RETRY_AFTER_SECONDS = 5
#: Storage answers that mean "not now" rather than "no".
_TRANSIENT_STORAGE_STATUSES = frozenset({408, 500, 502, 503, 504})


class ServiceError(Exception):
    """A refused request: HTTP ``status``, stable machine ``code``, a message naming the field and the fix.

    ``headers`` go out with the answer (``Retry-After`` on a 503).
    """

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: list[Any] = list(details or [])
        self.headers: dict[str, str] = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __repr__(self) -> str:
        return f"ServiceError(status={self.status}, code={self.code!r}, message={self.message!r})"


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


def from_exception(exc: BaseException) -> ServiceError | None:
    """The HTTP answer for an amlite error or a storage outage; None for anything else (a real server fault)."""
    if isinstance(exc, ServiceError):
        return exc
    if is_storage_outage(exc):
        return storage_unavailable()
    if isinstance(exc, ParameterError):
        return ServiceError(400, "InvalidParameterAssignment", str(exc))
    if isinstance(exc, ValidationError):
        return ServiceError(400, "PipelineValidationFailed", str(exc),
                            [{"message": message} for message in exc.errors])
    if isinstance(exc, NotFoundError):
        return ServiceError(404, "NotFound", str(exc))
    if isinstance(exc, ConflictError):
        return ServiceError(409, exc.code, str(exc))
    if isinstance(exc, NameTakenError):
        return ServiceError(409, "NameTaken", str(exc))
    if isinstance(exc, ConcurrencyError):
        return ServiceError(409, "ConcurrentUpdate", f"{exc}; retry the request")
    if isinstance(exc, AmliteError):
        return ServiceError(400, "BadRequest", str(exc))
    return None
