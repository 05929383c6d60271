"""``RunStatus``: the one spelling of a run's and a step's status (ARCHITECTURE §5).

Why a ``StrEnum``: a member *is* its string, so rows in Table storage, REST
bodies, the SDK's ``get_status()`` and JSON stay the AML strings they always
were ("Finished", not "RunStatus.FINISHED"), and values read back from storage
compare equal to members without conversion. Storage, the planner, REST, the
SDK, the CLI and the web view all import the names from here; no other module
spells a status.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run or step status (``CancelRequested`` last: it is a detour on the way to ``Canceled``)."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    RUNNING = "Running"
    FINISHED = "Finished"
    FAILED = "Failed"
    CANCELED = "Canceled"
    CANCEL_REQUESTED = "CancelRequested"

    @property
    def terminal(self) -> bool:
        """True once nothing more happens to the run or step."""
        return self in TERMINAL


#: The statuses a run or step never leaves. Typed over ``str`` so a value read from storage checks against it.
TERMINAL: frozenset[str] = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELED})

#: Which status may follow which (a terminal status has no successor).
ALLOWED: dict[str, frozenset[str]] = {
    RunStatus.NOT_STARTED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCEL_REQUESTED, *TERMINAL}),
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCEL_REQUESTED, *TERMINAL}),
    RunStatus.RUNNING: frozenset({RunStatus.CANCEL_REQUESTED, *TERMINAL}),
    RunStatus.CANCEL_REQUESTED: frozenset(TERMINAL),
}


def status_of(value: object) -> str:
    """The status a stored row holds; an empty or missing value is ``NotStarted`` (a row written before it ran).

    A value this version does not know is passed through as text rather than refused: a reader never fails
    on a row a newer writer stored.
    """
    return str(value) if value else RunStatus.NOT_STARTED


__all__ = ["ALLOWED", "TERMINAL", "RunStatus", "status_of"]
