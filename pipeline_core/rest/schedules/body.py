"""Schedule request bodies (create, update) -> a ``ScheduleDefinition`` / changes, checked field by field.

Keys match case-insensitively (as everywhere in this API); unknown keys are a
400 naming the field; AML's ``WaitForProvisioning``/``WaitTimeout`` are
accepted and ignored (provisioning is immediate here).
"""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.body import Fields, json_type, parse_json_object
from pipeline_core.rest.errors import ServiceError, bad_request
from pipeline_core.rest.keys import body_key
from pipeline_core.schedules.recurrence import ScheduleRecurrence
from pipeline_core.schedules.validation import ScheduleDefinition, ScheduleValidationError

#: Body field -> ScheduleDefinition attribute.
FIELD_ATTRS = {"Name": "name", "Description": "description", "ExperimentName": "experiment_name",
               "PipelineId": "pipeline_id", "PipelineEndpointId": "pipeline_endpoint_id",
               "Recurrence": "recurrence", "PipelineParameters": "pipeline_parameters",
               "DataStoreName": "datastore_name", "PollingInterval": "polling_interval",
               "DataPathParameterName": "data_path_parameter_name",
               "ContinueOnStepFailure": "continue_on_step_failure", "PathOnDataStore": "path_on_datastore",
               "Recursive": "recursive", "DebounceSeconds": "debounce_seconds", "RunNow": "run_now"}
ATTR_FIELDS = {attr: name for name, attr in FIELD_ATTRS.items()} | {"datastore": "DataStoreName"}
CREATE_FIELDS = tuple(FIELD_ATTRS)
UPDATE_FIELDS = ("Name", "Description", "Recurrence", "PipelineParameters", "DataStoreName", "PollingInterval",
                 "DataPathParameterName", "ContinueOnStepFailure", "PathOnDataStore", "Recursive", "DebounceSeconds",
                 "Status")
IGNORED = {"WaitForProvisioning": "provisioning is immediate in amlite",
           "WaitTimeout": "provisioning is immediate in amlite"}
RECURRENCE_FIELDS = ("Frequency", "Interval", "StartTime", "TimeZone", "Hours", "Minutes", "WeekDays", "TimeOfDay")
CREATE_EXAMPLE = ('{"Name": "nightly", "PipelineId": "<id>", "ExperimentName": "retrain", '
                  '"Recurrence": {"Frequency": "Day", "Interval": 1, "Hours": [2], "Minutes": [0]}}')
UPDATE_EXAMPLE = '{"Description": "every two hours", "Recurrence": {"Frequency": "Hour", "Interval": 2}}'


def invalid(exc: ScheduleValidationError) -> ServiceError:
    """A broken schedule rule as a 400 naming the body field."""
    argument = exc.parameter or ""
    target = ATTR_FIELDS.get(argument, argument)
    return ServiceError(400, "InvalidSchedule", str(exc), [{"target": target, "message": str(exc)}])


def _recurrence(value: Any) -> ScheduleRecurrence:
    if not isinstance(value, dict):
        raise bad_request(f"Recurrence must be a JSON object like {{\"Frequency\": \"Hour\", \"Interval\": 4}}, "
                          f"not {json_type(value)}", "Recurrence", "InvalidField")
    fields = Fields(value, RECURRENCE_FIELDS, where="Recurrence")
    try:
        return ScheduleRecurrence.from_dict({k: v for k, v in fields.values.items() if v is not None})
    except (ValueError, TypeError) as exc:
        raise ServiceError(400, "InvalidSchedule", str(exc), [{"target": "Recurrence", "message": str(exc)}]) \
            from None


def _parameters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"PipelineParameters must be a JSON object, not {json_type(value)}", "PipelineParameters",
                          "InvalidField")
    for name, item in value.items():
        if item is None or isinstance(item, list):
            raise bad_request(f"PipelineParameters.{name} must be a string, number, boolean or a DataPath object "
                              f"{{\"DataStoreName\", \"RelativePath\"}}, not {json_type(item)}",
                              f"PipelineParameters.{name}", "InvalidField")
    return dict(value)


def _number(fields: Fields, name: str, whole: bool) -> int | float | None:
    value = fields.values.get(name)
    if value is None:
        return None
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if whole else "a number"
        raise bad_request(f"{name} must be {kind}, not {json_type(value)} ({value!r})", name, "InvalidField")
    return value


def _values(fields: Fields) -> dict[str, Any]:
    """Every given field, type-checked, under its ScheduleDefinition attribute name."""
    out: dict[str, Any] = {}
    for name in ("Name", "Description", "ExperimentName", "DataPathParameterName", "PathOnDataStore"):
        if fields.present(name):
            out[FIELD_ATTRS[name]] = fields.string(name, max_length=4096)
    for name in ("PipelineId", "PipelineEndpointId", "DataStoreName"):
        if fields.present(name):
            out[FIELD_ATTRS[name]] = body_key(fields.string(name) or "", name)
    for name in ("ContinueOnStepFailure", "Recursive", "RunNow"):
        if fields.present(name):
            out[FIELD_ATTRS[name]] = fields.boolean(name)
    if fields.present("PollingInterval"):
        out["polling_interval"] = _number(fields, "PollingInterval", whole=True)
    if fields.present("DebounceSeconds"):
        out["debounce_seconds"] = _number(fields, "DebounceSeconds", whole=False)
    if fields.present("Recurrence"):
        out["recurrence"] = _recurrence(fields.values["Recurrence"])
    if fields.present("PipelineParameters"):
        out["pipeline_parameters"] = _parameters(fields.values["PipelineParameters"])
    return out


def parse_create(body: bytes) -> ScheduleDefinition:
    fields = Fields(parse_json_object(body, "create schedule", CREATE_EXAMPLE), CREATE_FIELDS, IGNORED)
    for required in ("Name", "ExperimentName"):
        fields.string(required, required=True)
    values = _values(fields)
    return ScheduleDefinition(**values)


def parse_update(body: bytes) -> tuple[dict[str, Any], str | None]:
    """(changed ScheduleDefinition attributes, new status or None)."""
    fields = Fields(parse_json_object(body, "update schedule", UPDATE_EXAMPLE), UPDATE_FIELDS, IGNORED)
    status = fields.string("Status")
    if status is not None and status not in ("Active", "Disabled"):
        raise bad_request(f"Status must be 'Active' or 'Disabled', not {status!r}", "Status", "InvalidField")
    return _values(fields), status
