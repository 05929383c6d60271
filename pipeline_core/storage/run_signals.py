"""Wake-ups for followers of runs that this process itself writes.

Why: a local ``Experiment.submit`` runs the orchestrator, the activities and
``wait_for_completion`` in one process. Polling Table storage ten times a
second to learn what this same process just wrote costs CPU here and in the
storage emulator, CPU that a step's own work competes for (a
``ParallelRunStep``'s workers use every core). So the run store and the log
writers announce each write of a run here, and a follower of such a run
sleeps until the next announcement. Writes made elsewhere (another host's
activities, a cancel from another shell) are still found by a slower poll.

Announcements are per process and cheap (a counter under a condition); a run
nobody here ever wrote has no entry, which is how a follower knows it must
poll at the usual rate.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

KEEP_RUNS = 4096  # runs remembered; the oldest are forgotten (their followers fall back to polling)


class RunSignals:
    """A change counter per run id, and a way to sleep until it moves."""

    def __init__(self, keep: int = KEEP_RUNS) -> None:
        self._keep = keep
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._changed = threading.Condition()

    def changed(self, run_id: str, ended: bool = False) -> None:
        """Announce that a row or log of ``run_id`` was just written by this process (``ended``: the run row
        became terminal, which a follower reads at once instead of at its next interval)."""
        with self._changed:
            self._versions[run_id] = self._versions.get(run_id, 0) + 1
            self._versions.move_to_end(run_id)
            while len(self._versions) > self._keep:
                self._versions.popitem(last=False)
            if ended:
                self._ended[run_id] = None
                while len(self._ended) > self._keep:
                    self._ended.popitem(last=False)
            self._changed.notify_all()

    def ended(self, run_id: str) -> bool:
        """Whether this process wrote the end of ``run_id``."""
        with self._changed:
            return run_id in self._ended

    def wait_ended(self, run_id: str, timeout: float) -> bool:
        """Sleep until this process writes the end of ``run_id`` or ``timeout`` passes; whether it ended."""
        with self._changed:
            return self._changed.wait_for(lambda: run_id in self._ended, max(0.0, timeout))

    def version(self, run_id: str) -> int | None:
        """The run's change count in this process, or None if this process never wrote it."""
        with self._changed:
            return self._versions.get(run_id)

    def wait(self, run_id: str, seen: int | None, timeout: float) -> bool:
        """Sleep until ``run_id`` changes from version ``seen`` or ``timeout`` passes; whether it changed."""
        with self._changed:
            return self._changed.wait_for(lambda: self._versions.get(run_id) != seen, max(0.0, timeout))


#: The process's signals: the run store and the log writers announce, ``StoreRunSource`` waits.
SIGNALS = RunSignals()
