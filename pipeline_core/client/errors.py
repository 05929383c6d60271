"""Server refusals as the same exception types a local call raises.

Why mirror the local types: code written against a local workspace catches
``NotFoundError``, ``ValidationError``, ``ParameterError`` or ``ConflictError``;
moving it to a remote workspace must not change what it catches. Each class
here is also a :class:`RemoteError`, carrying the HTTP ``status``, the stable
``code`` and the ``details`` of the answer ``{"error": {code, message, details}}``;
``str(error)`` is the server's message, unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_core.application.errors import ConflictError
from pipeline_core.engine.submit import ParameterError
from pipeline_core.errors import AmliteError, NotFoundError, ValidationError


class RemoteError(AmliteError):
    """The amlite Functions app refused a request or failed; ``str()`` is its message."""

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None,
                 url: str = "", method: str = ""):
        # Exception.__init__ directly: the mixed-in local classes have other constructors.
        Exception.__init__(self, message)
        self.status = status
        self.code = code
        self.message = message
        self.details: list[Any] = list(details or [])
        self.url = url
        self.method = method

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r}, "
                f"url={self.method} {self.url})")


class RemoteBadRequestError(RemoteError):
    """400: the request itself is wrong (the message names the field)."""


class RemoteValidationError(RemoteError, ValidationError):
    """400 PipelineValidationFailed/InvalidPipelineSpec: ``errors`` lists each problem, as locally."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.errors = [str(d.get("message")) for d in self.details if isinstance(d, dict) and d.get("message")] \
            or [self.message]


class RemoteParameterError(RemoteError, ParameterError):
    """400 InvalidParameterAssignment: a pipeline parameter is unknown or has the wrong type."""


class RemoteNotFoundError(RemoteError, NotFoundError):
    """404: no such run, step, pipeline or endpoint (or no such route: an old server)."""


class RemoteConflictError(RemoteError, ConflictError):
    """409: the target's state forbids the request (disabled, already ended, key reused)."""


class RemoteAuthError(RemoteError):
    """401/403: not signed in, or lacking the app role the route needs (the message says which)."""


class RemoteServerError(RemoteError):
    """5xx, or throttling that outlasted the retries: a fault on the server side, not in the request."""


_BY_CODE: dict[str, type[RemoteError]] = {
    "PipelineValidationFailed": RemoteValidationError,
    "InvalidPipelineSpec": RemoteValidationError,
    "InvalidParameterAssignment": RemoteParameterError,
}


def _class_for(status: int, code: str) -> type[RemoteError]:
    if status in (401, 403):
        return RemoteAuthError
    if status == 404:
        return RemoteNotFoundError
    if status == 409:
        return RemoteConflictError
    if 400 <= status < 500 and status != 429:
        return _BY_CODE.get(code, RemoteBadRequestError)
    return RemoteServerError


def error_from_response(status: int, body: bytes, method: str, url: str, reason: str = "") -> RemoteError:
    """The exception for an error answer; a body that is not amlite's error shape still gives a readable message."""
    code, message = f"Http{status}", ""
    details: list[Any] = []
    try:
        parsed = json.loads(body.decode("utf-8", errors="replace")) if body else None
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or "")
        found = error.get("details")
        details = found if isinstance(found, list) else []
    if not message:
        text = body.decode("utf-8", errors="replace").strip()[:300] if body else ""
        message = (f"{method} {url} answered HTTP {status} {reason}".rstrip()
                   + (f": {text}" if text else " with no error body; is the endpoint an amlite Functions app?"))
    return _class_for(status, code)(status, code, message, details, url=url, method=method)
