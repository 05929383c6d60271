"""When a failed step attempt is tried again: AML-style exponential backoff, decided in pure code.

The Durable extension's own ``RetryOptions`` cannot carry it: azure-functions-durable 1.7
serialises only the first interval and the attempt count, so the extension would retry at a
fixed interval whatever backoff coefficient a step asked for. The orchestrator therefore
waits on a durable timer of the length decided here between attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_INTERVAL_SECONDS = 3600.0  # no wait between two attempts is longer than an hour


@dataclass(frozen=True)
class StepRetry:
    max_attempts: int
    first_interval_seconds: float
    backoff_coefficient: float = 2.0
    max_interval_seconds: float = MAX_INTERVAL_SECONDS

    @classmethod
    def from_spec(cls, retry: dict[str, Any] | None) -> StepRetry | None:
        """The step's ``set_retry`` entry from the spec; None when it is tried once."""
        if not retry or int(retry.get("max_attempts", 1)) <= 1:
            return None
        return cls(max_attempts=int(retry["max_attempts"]),
                   first_interval_seconds=int(retry.get("first_retry_interval_ms", 5000)) / 1000.0,
                   backoff_coefficient=float(retry.get("backoff_coefficient", 2.0)))

    def delay_after(self, failed_attempt: int) -> float | None:
        """Seconds to wait after attempt ``failed_attempt`` (1-based) failed; None when none is left."""
        if failed_attempt >= self.max_attempts:
            return None
        delay = self.first_interval_seconds * self.backoff_coefficient ** (failed_attempt - 1)
        return min(delay, self.max_interval_seconds)
