"""Exceptions a user sees. Each message names the thing and the fix."""

from __future__ import annotations


class AmliteError(Exception):
    """Base class for every error amlite raises on purpose."""


class ValidationError(AmliteError):
    """A pipeline definition is wrong; ``errors`` lists every problem found, not just the first."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("Pipeline validation failed:\n" + "\n".join(f"  - {e}" for e in self.errors))


class ConcurrencyError(AmliteError):
    """A guarded update lost a race (ETag mismatch); the caller re-reads and decides again."""


class NotFoundError(AmliteError):
    """A run, step, pipeline or datastore that does not exist."""


class StepFailedError(AmliteError):
    """Raised by ``wait_for_completion(raise_on_error=True)`` when a run ends Failed."""
