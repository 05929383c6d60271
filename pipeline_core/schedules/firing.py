"""One fire of a schedule: the run (under a deterministic id) and its start, safe to repeat.

Why a deterministic run id: the fire is claimed first (an ETag-guarded update
of the schedule row, or the insert of a blob version's row), but a claimant can
die between the claim and the start. Whoever finishes the claim later derives
the same run id from the same fire (``uuid5(schedule id, fire key)``), so
``create_run`` finds the existing row instead of creating a second run, and
the starter finds the existing orchestration instead of starting a second one.

A fire starts its run through a run launcher (``pipeline_core.engine.launch``):
in the Functions app the Durable one (``functions/launcher.py``), locally the
in-process engine (:func:`local_starter`), both via ``start_or_fail`` so a
retried fire finds the orchestration it started before, and a start that fails
ends the run Failed with the reason. :class:`DeferredStart` leaves the start
to the caller (the HTTP layer starts ``launch_run_id`` itself).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError

from pipeline_core.engine.launch import RunLauncher, RunNotStarted, launcher_for, start_or_fail
from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError
from pipeline_core.storage.pipeline_store import PipelineRecord
from pipeline_core.storage.run_store import NOT_STARTED, QUEUED, RUN_ROW
from pipeline_core.storage.schedule_store import ScheduleRecord, iso

log = logging.getLogger("amlite.schedules")

#: uuid5 namespace of schedule run ids (fixed forever: changing it would change every fire's id).
RUN_ID_NAMESPACE = uuid.UUID("6f1c2f0e-4d5b-5b8e-9a57-0d3c7c1e5a11")
RUN_SOURCE = "Schedule"

@dataclass
class DeferredStart:
    """Starts nothing: records the run ids for the caller to start (the HTTP layer, through Durable)."""

    run_ids: list[str] = field(default_factory=list)


class _CallableLauncher:
    """A plain ``start(run_id)`` function as a launcher (tests record starts with one)."""

    def __init__(self, start: Callable[[str], None]) -> None:
        self.start = start

    def cancel(self, run_id: str) -> bool:
        return False

    def exists(self, run_id: str) -> bool:
        return False


Starter = RunLauncher | DeferredStart | Callable[[str], None]
"""How a fire starts its run: a launcher (it starts the orchestration unless one exists), a
:class:`DeferredStart`, or a plain ``start(run_id)`` function."""


def fire_run_id(schedule_id: str, fire_key: str) -> str:
    """The run id of one fire: the same fire always gets the same id, on any host."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{schedule_id}/{fire_key}"))


def time_fire_key(fire_time: Any) -> str:
    return f"time:{iso(fire_time)}"


def blob_fire_key(datastore: str, blob: str, etag: str) -> str:
    return f"blob:{datastore}/{blob}@{etag}"


@dataclass(frozen=True)
class FireResult:
    """``started``: the run exists and its orchestration was started (now or by an earlier attempt)."""

    run_id: str
    started: bool
    error: str = ""


def local_starter(services: Services) -> RunLauncher:
    """The in-process engine (the ``local`` launcher, ``amlite_local``): for a local workspace without a host."""
    return launcher_for(services)


def published_for(services: Services, schedule: ScheduleRecord) -> PipelineRecord:
    """The pipeline a fire submits now: the schedule's, or its endpoint's current default version."""
    from pipeline_core.application.publishing import (
        endpoint_pipeline,
        require_active,
        require_active_endpoint,
    )
    from pipeline_core.application.stores import endpoint_store, pipeline_store

    if schedule.pipeline_endpoint_id:
        endpoint = require_active_endpoint(endpoint_store(services).get(schedule.pipeline_endpoint_id))
        return require_active(endpoint_pipeline(services, endpoint))
    return require_active(pipeline_store(services).get(schedule.pipeline_id))


def _create(services: Services, schedule: ScheduleRecord, run_id: str, datapath: dict[str, str] | None,
            note: str) -> bool:
    """Create the run rows; False when an earlier attempt of this fire already did."""
    from pipeline_core.application.submission import SubmitOptions, check_submit
    from pipeline_core.engine.submit import create_run

    record = published_for(services, schedule)
    spec = services.load_spec(record.graph_id)
    datapaths = {schedule.data_path_parameter_name: datapath} if datapath and schedule.data_path_parameter_name \
        else {}
    options = SubmitOptions(experiment_name=schedule.experiment_name, parameters=dict(schedule.pipeline_parameters),
                            datapaths=datapaths, run_source=RUN_SOURCE)
    check_submit(services, spec, options)
    continue_on_failure = schedule.continue_on_step_failure
    if continue_on_failure is None:
        continue_on_failure = record.continue_on_step_failure
    try:
        create_run(services, spec, schedule.experiment_name, parameters=options.parameters, datapaths=datapaths,
                   continue_on_step_failure=continue_on_failure, description=record.description,
                   run_source=RUN_SOURCE, pipeline_id=record.id, run_id=run_id)
    except HttpResponseError as exc:
        if exc.status_code == 409:  # EntityAlreadyExists: this fire's run is already there
            return False
        raise
    extra: dict[str, Any] = {"schedule_id": schedule.id, "recorded": {"notes": [note]}}
    if schedule.pipeline_endpoint_id:
        extra["pipeline_endpoint_id"] = schedule.pipeline_endpoint_id
    services.runs.update(run_id, RUN_ROW, extra)
    return True


def fire(services: Services, schedule: ScheduleRecord, run_id: str, starter: Starter, *,
         datapath: dict[str, str] | None = None, note: str = "") -> FireResult:
    """Create run ``run_id`` of ``schedule`` unless it exists, then make sure it is started.

    Never raises for a bad target (disabled pipeline, parameter no longer
    declared): the result carries the error, which the caller records as the
    decision. A start that fails ends the run Failed with the reason, as the
    HTTP submit path does.
    """
    note = note or f"started by schedule {schedule.name!r} ({schedule.id})"
    try:
        _create(services, schedule, run_id, datapath, note)
    except AmliteError as exc:
        if not exc.caller_error:  # a storage outage is no bad target: the caller retries the fire
            raise
        return FireResult(run_id, False, str(exc))
    status = services.runs.get_run(run_id).get("status") or NOT_STARTED
    if status not in (NOT_STARTED, QUEUED):  # Running or ended: an earlier attempt started it
        return FireResult(run_id, True)
    if isinstance(starter, DeferredStart):
        starter.run_ids.append(run_id)
        return FireResult(run_id, True)
    launcher: RunLauncher = _CallableLauncher(starter) if callable(starter) else starter
    try:
        start_or_fail(services, run_id, launcher, unless_started=True)
    except RunNotStarted as exc:  # the run says why (start_or_fail ended it Failed), the decision too
        log.warning("schedule %s: %s", schedule.id, exc)
        return FireResult(run_id, False, f"the run could not be started: {exc.reason}")
    return FireResult(run_id, True)
