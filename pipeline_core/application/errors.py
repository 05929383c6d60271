"""The refusals the use cases raise that the shared error module has no class for yet."""

from __future__ import annotations

from pipeline_core.errors import AmliteError


class ConflictError(AmliteError):
    """The target's state forbids the request (a disabled pipeline, active schedules): HTTP 409.

    An ``AmliteError`` so SDK callers sharing the code path get an ordinary amlite error;
    ``rest.errors.from_exception`` answers it as a 409 carrying ``code``.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
