"""The app's sweeper: a timer that settles runs whose start never happened or whose orchestration ended first.

On Azure a worker killed between writing a run row and scheduling its Durable
orchestration leaves the run NotStarted/Queued forever, and a terminated
instance leaves its run Running. ``pipeline_core.engine.stale_runs`` decides
(by the row's age and the Durable instance); this layer only supplies the
Durable client, as ``DurableLauncher``. Schedule and grace are app settings
(``AMLITE_SWEEP_SCHEDULE``, ``AMLITE_SWEEP_GRACE_SECONDS``), read when the app
is indexed.
"""

from __future__ import annotations

import logging
import os

import azure.durable_functions as df
import azure.functions as func

from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.engine.stale_runs import LauncherOrchestrations, SweepSettings, sweep_stale_runs

from .launcher import DurableLauncher, off_loop

log = logging.getLogger("amlite.sweeper")
bp = df.Blueprint()

#: Read when the app is indexed; the grace is read (and checked) at each sweep.
SCHEDULE = SweepSettings.schedule_from(os.environ)


@bp.timer_trigger(arg_name="timer", schedule=SCHEDULE)
@bp.durable_client_input(client_name="client")
async def runs_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    services = services_for(storage_from_environment())
    orchestrations = LauncherOrchestrations(services, DurableLauncher(client))
    settings = SweepSettings.from_environment()  # the grace is read at each sweep
    report = await off_loop(lambda: sweep_stale_runs(services, orchestrations, settings.grace_seconds,
                                                     skip_live_local_owners=settings.skip_live_local_owners,
                                                     task_hub=orchestrations.task_hub))
    for label, ids in (("started", report.started), ("ended", report.ended)):
        if ids:
            log.warning("runs sweep: %s %s", label, ", ".join(ids))
