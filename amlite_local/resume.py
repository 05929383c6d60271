"""Resuming what a dead host left, as Durable Functions does: every few seconds, not only at start-up.

A sweep first adopts the stored orchestrations whose owner is gone
(:meth:`DurableEngine.adopt_orphans`: zombies and reused pids count as gone),
then, when the app runs pipelines, settles the run rows those owners left
(:func:`pipeline_core.engine.orphans.sweep_runs`): a run whose orchestration
was adopted changes owner, one that never started is started here, one with
nothing to resume ends with the reason. The dev host and the in-process local
engine both run a :class:`ResumeSweeper`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from pipeline_core.engine.orphans import (
    ELSEWHERE,
    ENDED,
    HERE,
    NONE,
    Orchestration,
    owner_is_gone,
    sweep_runs,
)

from .durable.store import OtherHubs
from .settings import DEFAULT_RESUME_INTERVAL as DEFAULT_RESUME_INTERVAL
from .settings import RESUME_INTERVAL_ENV as RESUME_INTERVAL_ENV
from .settings import DevHostSettings

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services

    from .durable.engine import DurableEngine

logger = logging.getLogger("amlite.devhost")

PIPELINE_ORCHESTRATOR = "pipeline_run"


def resume_interval(value: float | None = None) -> float:
    """Seconds between sweeps: ``value``, else ``AMLITE_RESUME_INTERVAL``, else 15."""
    return DevHostSettings.from_env(resume_interval=value).resume_interval_seconds


class EngineOrchestrations:
    """``pipeline_core.engine.orphans.Orchestrations`` over a dev host engine: runs are instances named by
    their run id."""

    def __init__(self, engine: DurableEngine, services: Services, orchestrator: str = PIPELINE_ORCHESTRATOR) -> None:
        self.engine = engine
        self.services = services
        self.orchestrator = orchestrator
        self._other_hubs: OtherHubs | None = None  # made once per sweep, when first needed

    def locate(self, run_id: str) -> Orchestration:
        if self.engine.owns(run_id):
            return Orchestration(HERE)
        status = self.engine.get_status(run_id)  # this engine's memory, then its store
        if status is not None:
            if status.runtime_status.is_terminal:
                output = status.output if isinstance(status.output, str) else repr(status.output)
                return Orchestration(ENDED, f"{status.runtime_status.value}: {output[:500]}")
            return Orchestration(ELSEWHERE)
        if self._other_hubs is None:
            store = self.engine.store
            self._other_hubs = OtherHubs(store.account.storage if store is not None else self.services.storage,
                                         store.task_hub if store is not None else None)
        if self._other_hubs.holding(run_id):
            return Orchestration(ELSEWHERE)
        return Orchestration(NONE)

    def start(self, run_id: str) -> None:
        self.engine.start_new(self.orchestrator, run_id, run_id)


class ResumeSweeper:
    """Adopt dead owners' orchestrations and settle their runs, now and every ``interval`` seconds."""

    def __init__(self, engine: DurableEngine, services: Services | None, me: str, interval: float | None = None,
                 orchestrator: str = PIPELINE_ORCHESTRATOR) -> None:
        self.engine = engine
        self.services = services if orchestrator in engine.orchestrator_names else None
        self.me = me
        self.interval = resume_interval(interval)
        self.orchestrator = orchestrator
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> None:
        adopted = self.engine.adopt_orphans(owner_is_gone)
        if self.services is None:
            return
        report = sweep_runs(self.services, EngineOrchestrations(self.engine, self.services, self.orchestrator),
                            self.me)
        for label, ids in (("resumed", report.adopted), ("started", report.started), ("ended", report.ended)):
            if ids:
                logger.info("runs left by a stopped host, %s here: %s", label, ", ".join(ids))
        if adopted and not (report.adopted or report.started):
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
        if swept:
            self._stop.wait(self.interval)
        while not self._stop.is_set():
            self._sweep_safely()
            self._stop.wait(self.interval)

    def _sweep_safely(self) -> None:
        try:
            self.sweep()
        except Exception:  # storage down, say: try again next time
            logger.warning("resuming runs of stopped hosts failed; trying again in %.0f s", self.interval,
                           exc_info=True)


__all__ = ["ELSEWHERE", "ENDED", "HERE", "NONE", "EngineOrchestrations", "ResumeSweeper", "resume_interval"]
