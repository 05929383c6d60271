"""``Schedule``: submit a published pipeline on a recurrence or when blobs change (AML v1 names and arguments).

``from azureml.pipeline.core.schedule import Schedule, ScheduleRecurrence, TimeZone``
ports by rewriting the import. Every call goes through the workspace's backend
(``workspace.backend``): the schedule tables of a local workspace, or the REST
API (``/api/schedules``) of one with an ``endpoint``. Both answer the same JSON
shape, so they behave alike.

Who fires: the Functions app (or ``amlite dev``) ticks every minute and serves
the blob trigger. Creating a recurrence without ``start_time`` in a local
workspace starts its first run right away in this process, as AML starts it at
creation; later fires need a running host.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from pipeline_core.data.datapath import DataPath
from pipeline_core.pipeline.core.identity import PublishedIdentity
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.pipeline.core.schedule_yaml import load_schedule_yaml
from pipeline_core.schedules.recurrence import ScheduleRecurrence
from pipeline_core.schedules.timezones import TimeZone
from pipeline_core.schedules.validation import (
    DEFAULT_POLLING_INTERVAL,
    ScheduleDefinition,
    ScheduleValidationError,
    datastore_name_of,
)

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace

__all__ = ["Schedule", "ScheduleRecurrence", "TimeZone"]

Entity = dict[str, Any]


def _parameters(values: dict[str, Any] | None) -> dict[str, Any]:
    """Pipeline parameter values as JSON (a DataPath becomes ``{datastore, path}``)."""
    out: dict[str, Any] = {}
    for name, value in (values or {}).items():
        out[name] = value.to_dict() if isinstance(value, DataPath) else value
    return out


class Schedule(PublishedIdentity):
    """AML v1 ``Schedule``. Create one with :meth:`create` or :meth:`create_for_pipeline_endpoint`."""

    def __init__(self, workspace: Workspace, id: str, name: str, description: str, pipeline_id: str | None,
                 status: str, recurrence: ScheduleRecurrence | None, datastore_name: str | None,
                 polling_interval: int, data_path_parameter_name: str | None,
                 continue_on_step_failure: bool | None, path_on_datastore: str | None,
                 _schedule_provider: Any = None, pipeline_endpoint_id: str | None = None,
                 _entity: Entity | None = None):
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._pipeline_id = pipeline_id
        self._pipeline_endpoint_id = pipeline_endpoint_id
        self._status = status
        self._recurrence = recurrence
        self._datastore_name = datastore_name
        self._polling_interval = polling_interval
        self._data_path_parameter_name = data_path_parameter_name
        self._continue_on_step_failure = continue_on_step_failure
        self._path_on_datastore = path_on_datastore
        self._entity: Entity = dict(_entity or {})

    @classmethod
    def _from_entity(cls, workspace: Workspace, entity: Entity) -> Schedule:
        recurrence = entity.get("Recurrence")
        return cls(workspace, entity["Id"], entity["Name"], entity.get("Description") or "", entity.get("PipelineId"),
                   entity["Status"], ScheduleRecurrence.from_dict(recurrence) if recurrence else None,
                   entity.get("DataStoreName"), int(entity.get("PollingInterval") or DEFAULT_POLLING_INTERVAL),
                   entity.get("DataPathParameterName"), entity.get("ContinueOnStepFailure"),
                   entity.get("PathOnDataStore"), pipeline_endpoint_id=entity.get("PipelineEndpointId"),
                   _entity=entity)

    # -- AML v1 properties ------------------------------------------------------------------
    @property
    def pipeline_id(self) -> str | None:
        return self._pipeline_id

    @property
    def pipeline_endpoint_id(self) -> str | None:
        return self._pipeline_endpoint_id

    @property
    def status(self) -> str:
        """``Active`` or ``Disabled`` as of the last read."""
        return self._status

    @property
    def recurrence(self) -> ScheduleRecurrence | None:
        return self._recurrence

    @property
    def datastore_name(self) -> str | None:
        return self._datastore_name

    @property
    def polling_interval(self) -> int:
        return self._polling_interval

    @property
    def data_path_parameter_name(self) -> str | None:
        return self._data_path_parameter_name

    @property
    def continue_on_step_failure(self) -> bool | None:
        return self._continue_on_step_failure

    @property
    def path_on_datastore(self) -> str | None:
        return self._path_on_datastore

    # -- amlite extras -------------------------------------------------------------------------
    @property
    def experiment_name(self) -> str:
        return str(self._entity.get("ExperimentName") or "")

    @property
    def next_fire_time(self) -> str | None:
        """ISO UTC time of the next fire (None for data-change or disabled schedules)."""
        return self._entity.get("NextFireTime") if self._status == "Active" else None

    @property
    def recursive(self) -> bool:
        return bool(self._entity.get("Recursive", True))

    @property
    def debounce_seconds(self) -> float:
        return float(self._entity.get("DebounceSeconds") or 0.0)

    # -- create -----------------------------------------------------------------------------------
    @staticmethod
    def create(workspace: Workspace, name: str, pipeline_id: str, experiment_name: str,
               recurrence: ScheduleRecurrence | None = None, description: str | None = None,
               pipeline_parameters: dict[str, Any] | None = None, wait_for_provisioning: bool = False,
               wait_timeout: int = 3600, datastore: Any = None, polling_interval: int = DEFAULT_POLLING_INTERVAL,
               data_path_parameter_name: str | None = None, continue_on_step_failure: bool | None = None,
               path_on_datastore: str | None = None, _workflow_provider: Any = None,
               _service_endpoint: Any = None, *, run_now: bool | None = None, recursive: bool = True,
               debounce_seconds: float = 0.0) -> Schedule:
        """Submit ``pipeline_id`` on ``recurrence``, or when blobs change under ``path_on_datastore`` of
        ``datastore`` (AML's rules: exactly one of the two). amlite extras: ``run_now=False`` skips the
        immediate first run of a recurrence without start_time; ``recursive=False`` is AML's "sub-folders are
        not watched"; ``debounce_seconds`` makes a burst of uploads start one run."""
        return Schedule._create(workspace, ScheduleDefinition(
            name=name, experiment_name=experiment_name, pipeline_id=pipeline_id, description=description,
            recurrence=recurrence, pipeline_parameters=_parameters(pipeline_parameters),
            datastore_name=datastore_name_of(datastore), polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name, continue_on_step_failure=continue_on_step_failure,
            path_on_datastore=path_on_datastore, recursive=recursive, debounce_seconds=debounce_seconds,
            run_now=run_now), wait_timeout)

    @staticmethod
    def create_for_pipeline_endpoint(workspace: Workspace, name: str, pipeline_endpoint_id: str,
                                     experiment_name: str, recurrence: ScheduleRecurrence | None = None,
                                     description: str | None = None,
                                     pipeline_parameters: dict[str, Any] | None = None,
                                     wait_for_provisioning: bool = False, wait_timeout: int = 3600,
                                     datastore: Any = None, polling_interval: int = DEFAULT_POLLING_INTERVAL,
                                     data_path_parameter_name: str | None = None,
                                     continue_on_step_failure: bool | None = None,
                                     path_on_datastore: str | None = None, _workflow_provider: Any = None,
                                     _service_endpoint: Any = None, *, run_now: bool | None = None,
                                     recursive: bool = True, debounce_seconds: float = 0.0) -> Schedule:
        """Like :meth:`create`, for a pipeline endpoint: each fire runs the endpoint's default version then."""
        return Schedule._create(workspace, ScheduleDefinition(
            name=name, experiment_name=experiment_name, pipeline_endpoint_id=pipeline_endpoint_id,
            description=description, recurrence=recurrence, pipeline_parameters=_parameters(pipeline_parameters),
            datastore_name=datastore_name_of(datastore), polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name, continue_on_step_failure=continue_on_step_failure,
            path_on_datastore=path_on_datastore, recursive=recursive, debounce_seconds=debounce_seconds,
            run_now=run_now), wait_timeout)

    @staticmethod
    def _create(workspace: Workspace, definition: ScheduleDefinition, wait_timeout: Any) -> Schedule:
        if isinstance(wait_timeout, bool) or not isinstance(wait_timeout, (int, float)) or wait_timeout <= 0:
            raise ScheduleValidationError("wait_timeout", f"wait_timeout must be a positive number of seconds, "
                                                          f"got {wait_timeout!r}")
        return Schedule._from_entity(workspace, workspace.backend.create_schedule(definition))

    # -- look up ----------------------------------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, id: str, _workflow_provider: Any = None, _service_endpoint: Any = None) -> Schedule:
        return Schedule._from_entity(workspace, workspace.backend.get_schedule(id))

    @staticmethod
    def list(workspace: Workspace, active_only: bool = True, pipeline_id: str | None = None,
             pipeline_endpoint_id: str | None = None, _workflow_provider: Any = None,
             _service_endpoint: Any = None) -> builtins.list[Schedule]:
        entities = workspace.backend.list_schedules(active_only, pipeline_id, pipeline_endpoint_id)
        return [Schedule._from_entity(workspace, e) for e in entities]

    @staticmethod
    def get_all(workspace: Workspace, active_only: bool = True, pipeline_id: str | None = None,
                pipeline_endpoint_id: str | None = None, _workflow_provider: Any = None,
                _service_endpoint: Any = None) -> builtins.list[Schedule]:
        """Deprecated in AML v1 in favour of ``list``; kept for migrated code."""
        return Schedule.list(workspace, active_only, pipeline_id, pipeline_endpoint_id)

    @staticmethod
    def get_schedules_for_pipeline_id(workspace: Workspace, pipeline_id: str, _workflow_provider: Any = None,
                                      _service_endpoint: Any = None) -> builtins.list[Schedule]:
        """Every schedule (Active or Disabled) that submits published pipeline ``pipeline_id``."""
        return Schedule.list(workspace, active_only=False, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(workspace: Workspace, pipeline_endpoint_id: str,
                                               _workflow_provider: Any = None,
                                               _service_endpoint: Any = None) -> builtins.list[Schedule]:
        """Every schedule (Active or Disabled) that submits to pipeline endpoint ``pipeline_endpoint_id``."""
        return Schedule.list(workspace, active_only=False, pipeline_endpoint_id=pipeline_endpoint_id)

    @staticmethod
    def load_yaml(workspace: Workspace, filename: str, _workflow_provider: Any = None,
                  _service_endpoint: Any = None) -> dict[str, Any]:
        """Read AML's schedule YAML (a top-level ``Schedule:`` mapping) into keyword arguments for ``create``."""
        return load_schedule_yaml(workspace, filename)

    # -- change -------------------------------------------------------------------------------------
    def update(self, name: str | None = None, description: str | None = None,
               recurrence: ScheduleRecurrence | None = None, pipeline_parameters: dict[str, Any] | None = None,
               status: str | None = None, wait_for_provisioning: bool = False, wait_timeout: int = 3600,
               datastore: Any = None, polling_interval: int | None = None, data_path_parameter_name: str | None = None,
               continue_on_step_failure: bool | None = None, path_on_datastore: str | None = None, *,
               recursive: bool | None = None, debounce_seconds: float | None = None) -> None:
        """Change the given fields (AML: ``None`` leaves a field as it is); every rule is checked again."""
        if status is not None and status not in ("Active", "Disabled"):
            raise ScheduleValidationError("status", f"status must be 'Active' or 'Disabled', got {status!r}")
        given = {"name": name, "description": description, "recurrence": recurrence,
                 "pipeline_parameters": _parameters(pipeline_parameters) if pipeline_parameters is not None else None,
                 "datastore_name": datastore_name_of(datastore), "polling_interval": polling_interval,
                 "data_path_parameter_name": data_path_parameter_name,
                 "continue_on_step_failure": continue_on_step_failure, "path_on_datastore": path_on_datastore,
                 "recursive": recursive, "debounce_seconds": debounce_seconds}
        changes = {key: value for key, value in given.items() if value is not None}
        self._refresh(self._workspace.backend.update_schedule(self._id, changes, status))

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Fire again from now on (no run for the time it was disabled)."""
        self._refresh(self._workspace.backend.set_schedule_status(self._id, True))

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        self._refresh(self._workspace.backend.set_schedule_status(self._id, False))

    def _refresh(self, entity: Entity) -> None:
        self.__dict__.update(Schedule._from_entity(self._workspace, entity).__dict__)

    # -- runs ---------------------------------------------------------------------------------------
    def get_pipeline_runs(self) -> builtins.list[PipelineRun]:
        """The runs this schedule started, newest first."""
        from pipeline_core.core.experiment import Experiment  # it submits SDK pipelines: made on use

        return [PipelineRun(Experiment(self._workspace, experiment), run_id)
                for run_id, experiment in self._workspace.backend.schedule_runs(self._id, 50)]

    def get_last_pipeline_run(self) -> PipelineRun | None:
        """The newest run this schedule started, or None before its first fire."""
        runs = self.get_pipeline_runs()
        return runs[0] if runs else None

    # -- amlite extras --------------------------------------------------------------------------------
    def get_next_fire_times(self, count: int = 5) -> builtins.list[str]:
        """The next ``count`` fire times (ISO UTC); empty for data-change or disabled schedules."""
        return [item["Time"] for item in self._workspace.backend.schedule_next(self._id, count)]

    def get_history(self, top: int = 50) -> builtins.list[dict[str, Any]]:
        """Every trigger decision (fired, or skipped because disabled, duplicate, debounced, failed)."""
        return self._workspace.backend.schedule_history(self._id, top)

    def __repr__(self) -> str:
        target = f"pipeline_id={self._pipeline_id!r}" if self._pipeline_id else \
            f"pipeline_endpoint_id={self._pipeline_endpoint_id!r}"
        trigger = f"recurrence={self._recurrence!r}" if self._recurrence else \
            f"datastore_name={self._datastore_name!r}, path_on_datastore={self._path_on_datastore!r}"
        return f"Schedule(name={self._name!r}, id={self._id!r}, status={self._status!r}, {target}, {trigger})"

