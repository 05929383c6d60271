"""Resuming what a dead host left, as Durable Functions does: every few seconds, not only at start-up.

A sweep adopts the stored orchestrations whose owner is gone
(:meth:`DurableEngine.adopt_orphans`, judged by :func:`owners.owner_is_gone`).
An app that keeps state of its own beside its orchestrations (amlite's run
rows) settles it in ``on_sweep``, which the sweeper calls after each adoption;
the host knows nothing of what that state is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .owners import owner_is_gone
from .settings import DEFAULT_RESUME_INTERVAL as DEFAULT_RESUME_INTERVAL
from .settings import RESUME_INTERVAL_ENV as RESUME_INTERVAL_ENV
from .settings import DevHostSettings

if TYPE_CHECKING:
    from .durable.engine import DurableEngine

logger = logging.getLogger("amlite.devhost")

#: Called after each adoption with the adopted instance ids; True when it reported them itself.
SweepHook = Callable[[list[str]], bool]


def resume_interval(value: float | None = None) -> float:
    """Seconds between sweeps: ``value``, else ``AMLITE_RESUME_INTERVAL``, else 15."""
    return DevHostSettings.from_env(resume_interval=value).resume_interval_seconds


class ResumeSweeper:
    """Adopt dead owners' orchestrations (then run ``on_sweep``), now and every ``interval`` seconds."""

    def __init__(self, engine: DurableEngine, me: str, interval: float | None = None, *,
                 on_sweep: SweepHook | None = None, is_gone: Callable[[str], bool] = owner_is_gone) -> None:
        self.engine = engine
        self.me = me
        self.interval = resume_interval(interval)
        self.on_sweep = on_sweep
        self.is_gone = is_gone
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> None:
        adopted = self.engine.adopt_orphans(self.is_gone)
        reported = self.on_sweep(adopted) if self.on_sweep is not None else False
        if adopted and not reported:
            logger.info("orchestrations left by a stopped host, resumed here: %s", ", ".join(adopted))

    def start(self, sweep_now: bool = False) -> ResumeSweeper:
        """Sweep every ``interval`` seconds on a thread, the first time at once (``sweep_now``: in the caller,
        so what it adopts is known on return)."""
        if sweep_now:
            self._sweep_safely()
        self._thread = threading.Thread(target=self._run, args=(sweep_now,), name="amlite-resume", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _run(self, swept: bool) -> None:
        if not swept:  # the first sweep is made even when stop() came first: stop() joins it
            self._sweep_safely()
        while not self._stop.wait(self.interval):
            self._sweep_safely()

    def _sweep_safely(self) -> None:
        try:
            self.sweep()
        except Exception:  # storage down, say: try again next time
            logger.warning("resuming orchestrations of stopped hosts failed; trying again in %.0f s",
                           self.interval, exc_info=True)


__all__ = ["ResumeSweeper", "SweepHook", "resume_interval"]
