"""Every exception amlite raises, in one tree rooted at :class:`AmliteError`.

Why one tree with fields: a caller catches ``AmliteError`` and knows it caught
amlite; the HTTP layer answers ``err.status`` with ``err.code`` and names the
field from ``err.parameter``, so it never guesses from the message text. The
message itself still names the thing and the fix (ARCHITECTURE §7).

``status`` is the HTTP status class of the error: 4xx for the caller's mistake
(the REST layer answers it), 5xx for a fault on the server's side (the REST
layer logs it and answers a generic 500, or 503 for an outage). Errors that
never leave the process (a worker try that failed, a closed pool) are 500.

This module imports nothing from amlite, so any module may raise from it.
AML's public exception names (``pipeline_core.exceptions``) derive from it.
"""

from __future__ import annotations

from typing import Any


class AmliteError(Exception):
    """Base class for every error amlite raises on purpose.

    ``code`` is a stable machine code, ``parameter`` the argument, field or
    pipeline parameter the error is about (None when it is about no single one),
    ``status`` the HTTP status class. Each subclass sets defaults; any raise may
    override them by keyword.
    """

    status: int = 400
    code: str = "BadRequest"
    parameter: str | None = None

    def __init__(self, *args: object, code: str | None = None, parameter: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code
        if parameter is not None:
            self.parameter = parameter
        if status is not None:
            self.status = status

    @property
    def caller_error(self) -> bool:
        """True when the caller can fix it (a 4xx), False for a fault on the server's side."""
        return 400 <= self.status < 500


# -- the caller's mistakes (400) --------------------------------------------------------------
class ValidationError(AmliteError):
    """A pipeline definition is wrong; ``errors`` lists every problem found, not just the first."""

    code = "PipelineValidationFailed"

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("Pipeline validation failed:\n" + "\n".join(f"  - {e}" for e in self.errors))


class ParameterError(AmliteError):
    """A submitted pipeline parameter is unknown or has the wrong type; ``parameter`` is its name."""

    code = "InvalidParameterAssignment"


class UnsafePathError(AmliteError):
    """A name from data (blob, dataset file, zip entry, spec id) would leave the folder it belongs in."""


class ConfigError(AmliteError, ValueError):
    """A ParallelRunConfig value breaks AML's rules; the message names the value and the allowed range.

    Also a ``ValueError``, as AML raises for these rules.
    """


class ScheduleValidationError(AmliteError, ValueError):
    """A schedule argument breaks one of AML's rules; ``parameter`` (also ``target``) is the argument's name.

    Both an ``AmliteError`` and a ``ValueError`` (what AML v1 raises for these
    rules), so migrated ``except ValueError`` blocks still work.
    """

    code = "InvalidSchedule"

    def __init__(self, target: str, message: str):
        super().__init__(f"Schedule: {message}", parameter=target)

    @property
    def target(self) -> str:
        return self.parameter or ""


class UsageError(AmliteError):
    """A bad file or argument given to the ``amlite`` command: exit code 2."""

    code = "Usage"


# -- the target's state (404, 409) -------------------------------------------------------------
class NotFoundError(AmliteError):
    """A run, step, pipeline or datastore that does not exist."""

    status = 404
    code = "NotFound"


class ConflictError(AmliteError):
    """The target's state forbids the request (a disabled pipeline, active schedules): HTTP 409."""

    status = 409
    code = "Conflict"

    def __init__(self, code: str, message: str, parameter: str | None = None):
        super().__init__(message, code=code, parameter=parameter)


class NameTakenError(AmliteError):
    """A pipeline endpoint with this name already exists (HTTP 409)."""

    status = 409
    code = "NameTaken"


class ConcurrencyError(AmliteError):
    """A guarded update lost a race (ETag mismatch); the caller re-reads and decides again."""

    status = 409
    code = "ConcurrentUpdate"


class InvalidTransition(AmliteError):
    """A row is already in a state that does not allow the requested change (usually: already terminal)."""

    status = 409
    code = "InvalidTransition"

    def __init__(self, row: dict[str, Any], to_status: str):
        self.row = row
        super().__init__(f"cannot move {row.get('RowKey')} of run {row.get('PartitionKey')} "
                         f"from {row.get('status')} to {to_status}")


# -- refusals that already carry their HTTP answer ---------------------------------------------
class ServiceError(AmliteError):
    """A refused request: HTTP ``status``, stable machine ``code``, a message naming the field and the fix.

    ``details`` go in the error body; ``headers`` go out with the answer (``Retry-After`` on a 503).
    """

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message, code=code, status=status)
        self.message = message
        self.details: list[Any] = list(details or [])
        self.headers: dict[str, str] = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __repr__(self) -> str:
        return f"ServiceError(status={self.status}, code={self.code!r}, message={self.message!r})"


class AuthError(AmliteError):
    """A request was refused by authentication or authorization.

    ``status`` is 401 (who you are is unknown or unproven), 403 (known, but not
    allowed, or the server refuses this auth mode) or 503 (the signing keys could
    not be fetched, so no token can be checked right now; retry later). Messages
    are built only from settings and claim *names*, never from the token or any
    secret, so the HTTP layer can return them verbatim.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code, status=status)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error body of ARCHITECTURE.md §7: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": []}}

    def headers(self) -> dict[str, str]:
        """Response headers: RFC 6750 asks 401 answers to say which scheme to use."""
        if self.status != 401:
            return {}
        error = (
            "invalid_request" if self.code in ("MissingToken", "UnsupportedAuthScheme") else "invalid_token"
        )
        return {"WWW-Authenticate": f'Bearer realm="amlite", error="{error}"'}


class AuthConfigError(AuthError):
    """The server's auth settings are missing or inconsistent.

    A subclass of :class:`AuthError` (403) so the HTTP layer needs one
    ``except``: the request is refused by server policy, and the message names
    the app setting to fix. ``AuthSettings.problems`` reports the same at start-up.
    """

    def __init__(self, message: str, code: str = "AuthNotConfigured") -> None:
        super().__init__(403, code, message)


class RunContextError(AmliteError):
    """The host refused a run context call (the message says why), or could not be reached (``status`` 0)."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message, code=code, status=status)


# -- faults on the server's side (5xx) ---------------------------------------------------------
class StorageUnavailableError(AmliteError):
    """Storage did not answer within the current request's budget (HTTP 503, retry later).

    Not an ``AzureError`` on purpose: the SDKs' retry loops retry those, and
    this one must end the loop.
    """

    status = 503
    code = "StorageUnavailable"


class PublicUrlError(AmliteError, ValueError):
    """A URL setting that cannot be used; the message names the setting and the fix (the server's fault)."""

    status = 500
    code = "InvalidConfiguration"


class JwksFetchError(AmliteError):
    """The signing key set could not be fetched or parsed (message names the URL, never a token)."""

    status = 503
    code = "SigningKeysUnavailable"


class UnknownKeyError(AmliteError):
    """No signing key with this ``kid``, even after a refresh (or a refresh was rate-limited)."""

    status = 401
    code = "UnknownSigningKey"


class StepFailedError(AmliteError):
    """Raised by ``wait_for_completion(raise_on_error=True)`` when a run ends Failed."""

    status = 500
    code = "RunFailed"


class TryFailed(AmliteError):
    """One try of a ParallelRunStep mini-batch failed: the script raised, timed out, or its worker died.

    ``items`` is how many items it read, if it got that far. Never leaves the host.
    """

    status = 500
    code = "MiniBatchFailed"

    def __init__(self, message: str, traceback: str = "", items: int | None = None, timed_out: bool = False):
        super().__init__(message)
        self.message = message
        self.traceback = traceback
        self.items = items
        self.timed_out = timed_out


class PoolClosed(AmliteError):
    """The step's worker pool on this host was closed (the step finished): a late slice has nothing to run on."""

    status = 500
    code = "PoolClosed"


__all__ = ["AmliteError", "AuthConfigError", "AuthError", "ConcurrencyError", "ConfigError", "ConflictError",
           "InvalidTransition", "JwksFetchError", "NameTakenError", "NotFoundError", "ParameterError", "PoolClosed",
           "PublicUrlError", "RunContextError", "ScheduleValidationError", "ServiceError", "StepFailedError",
           "StorageUnavailableError", "TryFailed", "UnknownKeyError", "UnsafePathError", "UsageError",
           "ValidationError"]


class EnvironmentBuildError(AmliteError):
    """A step's declared packages could not be installed; the message names them and uv's own reason."""

    code = "EnvironmentBuildFailed"


class RunNotStarted(AmliteError):
    """A created run whose orchestration could not be started (``engine.launch.start_or_fail``); the run was
    ended Failed with the reason (or, with storage down too, is left to the orphan check). Retryable: 503."""

    status = 503
    code = "RunNotStarted"

    def __init__(self, message: str, run_id: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason or message


class LauncherNotFound(ConfigError):
    """No run launcher of that name was registered or installed (``engine.launch.launcher_for``)."""

    status = 500
    code = "LauncherNotFound"


class ServiceRetiredError(AmliteError):
    """A step or compute of an Azure service that no longer exists was asked to run (AdlaStep: Data Lake Analytics)."""

    code = "ServiceRetired"


class StepStopped(AmliteError):
    """Raised inside a step's own work when the attempt must stop (``canceled``, ``superseded`` or ``timeout``),
    so a transfer or another long in-process task unwinds; the executor turns it into the step's end."""

    def __init__(self, reason: str):
        super().__init__(f"the step was stopped: {reason}")
        self.reason = reason
