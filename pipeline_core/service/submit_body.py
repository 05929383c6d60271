"""The AML v1 submit body (``SubmitPipelineRunRequest``) -> ``SubmitOptions``, checked field by field."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline_core.service.body import Fields, json_type, parse_json_object
from pipeline_core.service.errors import bad_request
from pipeline_core.service.keys import body_key
from pipeline_core.service.submission import SubmitOptions

SUBMIT_FIELDS = ("ExperimentName", "ParameterAssignments", "DataPathAssignments", "Description", "Tags",
                 "RunSource", "ContinueOnStepFailure")
IGNORED_SUBMIT_FIELDS = {
    "DataSetDefinitionValueAssignments": "dataset parameters are not supported; bind data with "
                                         "DataPathAssignments ({name: {DataStoreName, RelativePath}})",
    "AssetOutputSettingsAssignments": "output asset settings have no meaning in amlite",
    "EnableNotification": "amlite sends no notifications",
    "DisplayName": "runs are identified by Id; put a label in Description or Tags",
    "ParentRunId": "amlite runs have no parent runs",
    "Properties": "use Tags for run metadata",
    "StepTags": "step tags are not recorded",
    "RunType": "every run here is a pipeline run",
    "PipelineRunSettings": "per-run settings are not supported",
}
SUBMIT_EXAMPLE = '{"ExperimentName": "my-experiment", "ParameterAssignments": {"alpha": 0.5}}'


def _scalar_parameters(value: dict[str, Any]) -> dict[str, Any]:
    for name, item in value.items():
        if isinstance(item, (dict, list)) or item is None:
            raise bad_request(f"ParameterAssignments.{name} must be a string, number or boolean, not "
                              f"{json_type(item)}; a DataPath goes in DataPathAssignments as "
                              "{DataStoreName, RelativePath}", f"ParameterAssignments.{name}", "InvalidField")
    return dict(value)


def _datapaths(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in value.items():
        where = f"DataPathAssignments.{name}"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object {{\"DataStoreName\": ..., \"RelativePath\": ...}}, "
                              f"not {json_type(item)}", where, "InvalidField")
        fields = Fields(item, ("DataStoreName", "RelativePath"), where=where)
        datastore = body_key(fields.string("DataStoreName", required=True) or "", f"{where}.DataStoreName")
        out[name] = {"datastore": datastore, "path": (fields.string("RelativePath") or "").lstrip("/")}
    return out


def _tags(value: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)) or item is None:
            raise bad_request(f"Tags.{key} must be a string, not {json_type(item)}", f"Tags.{key}", "InvalidField")
        tags[key] = str(item).lower() if isinstance(item, bool) else str(item)
    return tags


def parse_submit_body(body: bytes, default_run_source: str = "API") -> SubmitOptions:
    data = parse_json_object(body, "submit", SUBMIT_EXAMPLE)
    fields = Fields(data, SUBMIT_FIELDS, IGNORED_SUBMIT_FIELDS)
    experiment = fields.string("ExperimentName", required=True, max_length=255)
    assert experiment is not None
    return SubmitOptions(
        experiment_name=experiment,
        parameters=_scalar_parameters(fields.obj("ParameterAssignments") or {}),
        datapaths=_datapaths(fields.obj("DataPathAssignments") or {}),
        description=fields.string("Description", max_length=4096),
        tags=_tags(fields.obj("Tags") or {}) or None,
        run_source=fields.string("RunSource", max_length=255) or default_run_source,
        continue_on_step_failure=fields.boolean("ContinueOnStepFailure"),
        notes=fields.notes,
    )


def fingerprint(options: SubmitOptions, extra: dict[str, Any] | None = None) -> str:
    """Same request -> same fingerprint, whatever the JSON spacing or key order."""
    canonical = json.dumps({"experiment": options.experiment_name, "parameters": options.parameters,
                            "datapaths": options.datapaths, "description": options.description,
                            "tags": options.tags, "run_source": options.run_source,
                            "continue_on_step_failure": options.continue_on_step_failure, **(extra or {})},
                           sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
