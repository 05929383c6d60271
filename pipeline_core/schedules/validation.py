"""AML v1's rules for a schedule's arguments, each broken rule a ``ValueError`` that names it.

Shared by ``Schedule.create``/``update`` and ``POST/PATCH /api/schedules`` so a
schedule refused from Python is refused the same way over REST (where the
error is a 400 ``InvalidSchedule`` naming the field).

``check_definition`` needs no storage (argument shapes and combinations);
``check_targets`` reads the published pipeline (or endpoint), its declared
parameters and the datastore, so a mistake fails at creation, not at 3 a.m.
when the schedule first fires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import NotFoundError
from pipeline_core.errors import ScheduleValidationError as ScheduleValidationError
from pipeline_core.schedules.recurrence import ScheduleRecurrence

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services
    from pipeline_core.storage.pipeline_store import PipelineRecord

MAX_NAME = 255
MAX_DESCRIPTION = 4096
DEFAULT_POLLING_INTERVAL = 5
MAX_POLLING_INTERVAL = 24 * 60
MAX_DEBOUNCE_SECONDS = 3600.0


@dataclass
class ScheduleDefinition:
    """Everything a user sets on a schedule (AML v1 arguments plus amlite's data-change options)."""

    name: str
    experiment_name: str
    pipeline_id: str | None = None
    pipeline_endpoint_id: str | None = None
    description: str | None = None
    recurrence: ScheduleRecurrence | None = None
    pipeline_parameters: dict[str, Any] = field(default_factory=dict)
    datastore_name: str | None = None
    polling_interval: int = DEFAULT_POLLING_INTERVAL
    data_path_parameter_name: str | None = None
    continue_on_step_failure: bool | None = None
    path_on_datastore: str | None = None
    recursive: bool = True
    debounce_seconds: float = 0.0
    run_now: bool | None = None


def _fail(target: str, message: str) -> ScheduleValidationError:
    return ScheduleValidationError(target, message)


def datastore_name_of(datastore: Any) -> str | None:
    """A ``Datastore`` (AML passes the object) or its name; AML accepts only Azure Blob datastores."""
    if datastore is None:
        return None
    if isinstance(datastore, str):
        if not datastore.strip():
            raise _fail("datastore", "datastore is an empty string; pass a Datastore (ws.get_default_datastore()) "
                                     "or a registered datastore's name")
        return datastore.strip()
    kind = getattr(datastore, "datastore_type", None)
    name = getattr(datastore, "name", None)
    if kind != "AzureBlob" or not isinstance(name, str):
        raise _fail("datastore", f"datastore must be an Azure Blob datastore (AzureBlobDatastore), got "
                                 f"{type(datastore).__name__}; data-change schedules watch Blob containers only")
    return name


def check_definition(d: ScheduleDefinition) -> None:
    """The rules that need no storage, in the order AML states them."""
    from pipeline_core.engine.submit import EXPERIMENT_NAME_RE

    if not isinstance(d.name, str) or not d.name.strip() or len(d.name) > MAX_NAME:
        raise _fail("name", f"name is required: a non-empty string of at most {MAX_NAME} characters, "
                            f"got {d.name!r}")
    if not isinstance(d.experiment_name, str) or not EXPERIMENT_NAME_RE.match(d.experiment_name):
        raise _fail("experiment_name", f"experiment_name {d.experiment_name!r} is invalid: use 1-255 letters, "
                                       "digits, '_' or '-', starting with a letter or digit")
    if bool(d.pipeline_id) == bool(d.pipeline_endpoint_id):
        raise _fail("pipeline_id", "a schedule submits exactly one published pipeline (pipeline_id) or one "
                                   "pipeline endpoint (pipeline_endpoint_id, Schedule.create_for_pipeline_endpoint)")
    if d.description is not None and (not isinstance(d.description, str) or len(d.description) > MAX_DESCRIPTION):
        raise _fail("description", f"description must be a string of at most {MAX_DESCRIPTION} characters")
    if d.recurrence is not None and d.datastore_name is not None:
        raise _fail("recurrence", "recurrence and datastore are mutually exclusive: a schedule fires either on "
                                  "a time recurrence or when blobs change on a datastore. Give one of them")
    if d.recurrence is None and d.datastore_name is None:
        raise _fail("recurrence", "give either recurrence=ScheduleRecurrence(...) (time-based) or "
                                  "datastore=<Azure Blob datastore> (data-change); a schedule needs one of them")
    if d.recurrence is not None:
        if not isinstance(d.recurrence, ScheduleRecurrence):
            raise _fail("recurrence", f"recurrence must be a ScheduleRecurrence, got {type(d.recurrence).__name__}")
        d.recurrence.validate()
        _check_computable(d.recurrence)
    _check_data_change_options(d)
    _check_common(d)


def _check_computable(recurrence: ScheduleRecurrence) -> None:
    """Refuse a recurrence whose next fire times run past the year 9999 (it could never fire, only fail)."""
    from pipeline_core.schedules.firetimes import next_fire_times

    now = datetime.now(timezone.utc)
    try:
        next_fire_times(recurrence, now, 2, anchor=now)
    except (OverflowError, ValueError):
        raise _fail("recurrence", "the recurrence's fire times fall beyond the year 9999; use a smaller interval "
                                  "or an earlier start_time") from None


def _check_data_change_options(d: ScheduleDefinition) -> None:
    interval = d.polling_interval
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= MAX_POLLING_INTERVAL:
        raise _fail("polling_interval", f"polling_interval is minutes between polls of the datastore: a whole "
                                        f"number from 1 to {MAX_POLLING_INTERVAL}, got {interval!r}")
    debounce = d.debounce_seconds
    if isinstance(debounce, bool) or not isinstance(debounce, (int, float)) or math.isnan(debounce) \
            or not 0 <= debounce <= MAX_DEBOUNCE_SECONDS:
        raise _fail("debounce_seconds", f"debounce_seconds must be a number of seconds from 0 (off) to "
                                        f"{MAX_DEBOUNCE_SECONDS:.0f}, got {debounce!r}")
    if not isinstance(d.recursive, bool):
        raise _fail("recursive", f"recursive must be True or False, got {d.recursive!r}")
    if d.path_on_datastore is not None and not isinstance(d.path_on_datastore, str):
        raise _fail("path_on_datastore", f"path_on_datastore must be a string such as 'incoming/', "
                                         f"got {type(d.path_on_datastore).__name__}")
    if d.data_path_parameter_name is not None and (not isinstance(d.data_path_parameter_name, str)
                                                   or not d.data_path_parameter_name):
        raise _fail("data_path_parameter_name", "data_path_parameter_name must name a DataPath pipeline parameter")
    if d.datastore_name is not None:
        return
    only_for_datastore = {
        "polling_interval": interval != DEFAULT_POLLING_INTERVAL,
        "data_path_parameter_name": d.data_path_parameter_name is not None,
        "path_on_datastore": d.path_on_datastore is not None,
        "recursive": d.recursive is not True,
        "debounce_seconds": bool(debounce),
    }
    for name, given in only_for_datastore.items():
        if given:
            raise _fail(name, f"{name} is only supported for datastore schedules (datastore=...); a recurrence "
                              "schedule fires on time, not on data changes")


def _check_common(d: ScheduleDefinition) -> None:
    if d.continue_on_step_failure is not None and not isinstance(d.continue_on_step_failure, bool):
        raise _fail("continue_on_step_failure", f"continue_on_step_failure must be True, False or None, "
                                                f"got {d.continue_on_step_failure!r}")
    if not isinstance(d.pipeline_parameters, dict) or not all(isinstance(k, str) for k in d.pipeline_parameters):
        raise _fail("pipeline_parameters", "pipeline_parameters must be a dict of parameter name -> value")
    if d.run_now is not None:
        if not isinstance(d.run_now, bool):
            raise _fail("run_now", f"run_now must be True or False, got {d.run_now!r}")
        if d.recurrence is None:
            raise _fail("run_now", "run_now applies to recurrence schedules only")
        if d.run_now and d.recurrence.start_time is not None:
            raise _fail("run_now", "run_now=True applies only to a recurrence without start_time (it then runs "
                                   "right away, as AML does); with a start_time the first run is at the first "
                                   "computed time from start_time")


def check_targets(services: Services, d: ScheduleDefinition) -> PipelineRecord:
    """The pipeline (or the endpoint's default version) that fires, with parameters and datastore checked."""
    from pipeline_core.application.publishing import (
        endpoint_pipeline,
        require_active,
        require_active_endpoint,
    )
    from pipeline_core.application.stores import endpoint_store, pipeline_store
    from pipeline_core.engine.submit import ParameterError, coerce_parameters

    if d.pipeline_endpoint_id:
        endpoint = require_active_endpoint(endpoint_store(services).get(d.pipeline_endpoint_id))
        record = endpoint_pipeline(services, endpoint)
    else:
        assert d.pipeline_id is not None
        record = pipeline_store(services).get(d.pipeline_id)
    require_active(record)
    spec = services.load_spec(record.graph_id)
    try:
        coerce_parameters(spec, d.pipeline_parameters)
    except ParameterError as exc:
        raise _fail("pipeline_parameters", str(exc)) from None
    if d.data_path_parameter_name is not None:
        declared = spec.parameters.get(d.data_path_parameter_name)
        if declared is None or declared.get("type") != "datapath":
            datapaths = sorted(n for n, p in spec.parameters.items() if p.get("type") == "datapath") or ["none"]
            raise _fail("data_path_parameter_name",
                        f"data_path_parameter_name {d.data_path_parameter_name!r} must name a DataPath pipeline "
                        f"parameter of the pipeline, which receives the changed blob; its DataPath "
                        f"parameters: {', '.join(datapaths)}")
    if d.datastore_name is not None:
        from pipeline_core.core.datastore import Datastore

        try:
            Datastore.get(services.workspace, d.datastore_name)
        except NotFoundError as exc:
            raise _fail("datastore", str(exc)) from None
    return record
