"""One fire of a schedule: the run (under a deterministic id) and its start, safe to repeat.

Why a deterministic run id: the fire is claimed first (an ETag-guarded update
of the schedule row, or the insert of a blob version's row), but a claimant can
die between the claim and the start. Whoever finishes the claim later derives
the same run id from the same fire (``uuid5(schedule id, fire key)``), so
``create_run`` finds the existing row instead of creating a second run, and
the starter finds the existing orchestration instead of starting a second one.

A ``Starter`` makes sure the orchestration of a run exists: in the Functions
app it goes through the Durable client (``functions/schedules.py``), locally
through the in-process engine (:func:`local_starter`). Both are idempotent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError

from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError
from pipeline_core.storage.pipeline_store import PipelineRecord
from pipeline_core.storage.run_store import FAILED, NOT_STARTED, QUEUED, RUN_ROW, InvalidTransition, utcnow
from pipeline_core.storage.schedule_store import ScheduleRecord, iso

log = logging.getLogger("amlite.schedules")

#: uuid5 namespace of schedule run ids (fixed forever: changing it would change every fire's id).
RUN_ID_NAMESPACE = uuid.UUID("6f1c2f0e-4d5b-5b8e-9a57-0d3c7c1e5a11")
RUN_SOURCE = "Schedule"

Starter = Callable[[str], None]
"""Make sure the orchestration of run ``run_id`` exists (start it if not); raise if it cannot be started."""


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


def local_starter(services: Services) -> Starter:
    """The in-process engine (``amlite_devhost.local``): for a local workspace without a host."""
    from amlite_devhost.local import local_status

    def start(run_id: str) -> None:
        from pipeline_core.engine.launch import launch_run

        if local_status(run_id) is None:
            launch_run(services, run_id)

    return start


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
    try:
        starter(run_id)
    except Exception as exc:  # noqa: BLE001 - the start failed: the run says why, the decision too
        log.exception("schedule %s: could not start run %s", schedule.id, run_id)
        try:
            services.runs.transition(run_id, RUN_ROW, FAILED, {
                "end_time": utcnow(), "error": {"message": f"the orchestration could not be started: {exc}"}})
        except InvalidTransition:
            pass
        return FireResult(run_id, False, f"the run could not be started: {exc}")
    return FireResult(run_id, True)
