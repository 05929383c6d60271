"""JSON shapes of schedules and their decisions, in AML's PascalCase (``Id``, ``Recurrence.Frequency``...).

The SDK builds ``Schedule`` objects from these same shapes on both sides of
the API (a local workspace converts its records here; a remote one receives
them over HTTP), so local and remote schedules cannot differ.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.links import schedule_url
from pipeline_core.storage.schedule_decision_store import Decision
from pipeline_core.storage.schedule_store import ScheduleRecord

_RECURRENCE_KEYS = {"frequency": "Frequency", "interval": "Interval", "start_time": "StartTime",
                    "time_zone": "TimeZone", "hours": "Hours", "minutes": "Minutes", "week_days": "WeekDays",
                    "time_of_day": "TimeOfDay"}


def recurrence_entity(recurrence: dict[str, Any] | None) -> dict[str, Any] | None:
    """``ScheduleRecurrence.to_dict()`` -> PascalCase (``ScheduleRecurrence.from_dict`` reads both)."""
    if recurrence is None:
        return None
    return {_RECURRENCE_KEYS[key]: value for key, value in recurrence.items() if key in _RECURRENCE_KEYS}


def schedule_entity(record: ScheduleRecord, base: str) -> dict[str, Any]:
    return {
        "Id": record.id,
        "Name": record.name,
        "Description": record.description,
        "Status": record.status,
        "ProvisioningStatus": "Completed",
        "Kind": record.kind,
        "PipelineId": record.pipeline_id or None,
        "PipelineEndpointId": record.pipeline_endpoint_id or None,
        "ExperimentName": record.experiment_name,
        "Recurrence": recurrence_entity(record.recurrence),
        "PipelineParameters": dict(record.pipeline_parameters),
        "ContinueOnStepFailure": record.continue_on_step_failure,
        "DataStoreName": record.datastore_name or None,
        "PathOnDataStore": record.path_on_datastore or None,
        "Recursive": record.recursive,
        "PollingInterval": record.polling_interval,
        "DataPathParameterName": record.data_path_parameter_name or None,
        "DebounceSeconds": record.debounce_seconds,
        "NextFireTime": record.next_fire_time or None,
        "LastFireTime": record.last_fire_time or None,
        "LastRunId": record.last_run_id or None,
        "PendingChange": ({"DataStoreName": record.pending.get("datastore"), "Blob": record.pending.get("blob"),
                           "Changes": record.pending.get("count"), "FiresAt": record.pending_deadline or None}
                          if record.pending else None),
        "CreatedTime": record.created_time or None,
        "UpdatedTime": record.updated_time or None,
        "Url": schedule_url(base, record.id),
    }


def decision_entity(decision: Decision) -> dict[str, Any]:
    return {"Decision": decision.decision, "Reason": decision.reason or None, "Trigger": decision.trigger,
            "RunId": decision.run_id or None, "FireTime": decision.fire_time or None,
            "DataStoreName": decision.datastore or None, "Blob": decision.blob or None,
            "ETag": decision.etag or None, "Message": decision.message or None, "Time": decision.time or None}
