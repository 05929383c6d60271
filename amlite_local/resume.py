"""Resuming the runs a dead host left: the pipeline half of the dev host's sweep.

The dev host (``amlite_devhost.resume``) adopts the stored orchestrations whose
owner is gone and knows nothing of runs. For amlite's app this module then
settles the run rows those owners left (:func:`pipeline_core.engine.orphans.sweep_runs`):
a run whose orchestration was adopted changes owner, one that never started is
started here, one with nothing to resume ends with the reason. The dev host
composed for amlite (``amlite_local.host``) and the in-process local engine
(``amlite_local.engine``) both run a :class:`ResumeSweeper`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from amlite_devhost.durable.store import OtherHubs
from amlite_devhost.resume import ResumeSweeper as GenericSweeper
from amlite_devhost.resume import SweepHook
from pipeline_core.engine.orphans import (
    ELSEWHERE,
    ENDED,
    HERE,
    NONE,
    Orchestration,
    owner_is_gone,
    sweep_runs,
)
from pipeline_core.storage.account import StorageAccount

if TYPE_CHECKING:
    from amlite_devhost.durable.engine import DurableEngine
    from pipeline_core.engine.services import Services

logger = logging.getLogger("amlite.devhost")

PIPELINE_ORCHESTRATOR = "pipeline_run"


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
                                         store.task_hub if store is not None else None, account=StorageAccount)
        if self._other_hubs.holding(run_id):
            return Orchestration(ELSEWHERE)
        return Orchestration(NONE)

    def start(self, run_id: str) -> None:
        self.engine.start_new(self.orchestrator, run_id, run_id)


def settle_runs(engine: DurableEngine, services: Services, me: str,
                orchestrator: str = PIPELINE_ORCHESTRATOR) -> SweepHook:
    """The dev host sweeper's hook for a pipeline app: after the orchestrations are adopted, settle the run
    rows dead owners left (``pipeline_core.engine.orphans.sweep_runs``)."""

    def hook(adopted: list[str]) -> bool:
        report = sweep_runs(services, EngineOrchestrations(engine, services, orchestrator), me)
        for label, ids in (("resumed", report.adopted), ("started", report.started), ("ended", report.ended)):
            if ids:
                logger.info("runs left by a stopped host, %s here: %s", label, ", ".join(ids))
        return bool(report.adopted or report.started)

    return hook


class ResumeSweeper(GenericSweeper):
    """The dev host's sweeper, settling run rows too when the engine runs the pipeline orchestrator."""

    def __init__(self, engine: DurableEngine, services: Services | None, me: str, interval: float | None = None,
                 orchestrator: str = PIPELINE_ORCHESTRATOR) -> None:
        hook = None
        if services is not None and orchestrator in engine.orchestrator_names:
            hook = settle_runs(engine, services, me, orchestrator)
        super().__init__(engine, me, interval, on_sweep=hook, is_gone=owner_is_gone)


__all__ = ["ELSEWHERE", "ENDED", "HERE", "NONE", "EngineOrchestrations", "ResumeSweeper", "settle_runs"]
