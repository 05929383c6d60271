"""The AML v1 submit body (``SubmitPipelineRunRequest``) -> ``SubmitOptions``, checked field by field."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline_core.application.submission import SubmitOptions
from pipeline_core.rest.body import Fields, json_type, parse_json_object
from pipeline_core.rest.errors import bad_request
from pipeline_core.rest.keys import body_key
from pipeline_core.safe_paths import text_problem

SUBMIT_FIELDS = ("ExperimentName", "ParameterAssignments", "DataPathAssignments", "DataSetDefinitionValueAssignments",
                 "Description", "Tags", "RunSource", "ContinueOnStepFailure", "RegenerateOutputs")
IGNORED_SUBMIT_FIELDS = {
    "AssetOutputSettingsAssignments": "output asset settings have no meaning in amlite",
    "EnableNotification": "amlite sends no notifications",
    "DisplayName": "runs are identified by Id; put a label in Description or Tags",
    "ParentRunId": "amlite runs have no parent runs",
    "Properties": "use Tags for run metadata",
    "StepTags": "step tags are not recorded",
    "RunType": "every run here is a pipeline run",
    "PipelineRunSettings": "per-run settings are not supported",
}
#: Run rows store the parameter values (assigned ones plus the published defaults, each half capped, see
#: ``spec_check.MAX_PARAMETERS_CHARS``) and the tags as JSON in Table properties of at most 32K characters.
MAX_ASSIGNMENT_CHARS = 15_000
MAX_TAGS_CHARS = 16_000
SUBMIT_EXAMPLE = '{"ExperimentName": "my-experiment", "ParameterAssignments": {"alpha": 0.5}}'


def _fits(what: str, value: dict[str, Any], limit: int, target: str) -> None:
    """The run row keeps these as JSON in one Table property (at most 32K characters): refuse, don't fail."""
    size = len(json.dumps(value, sort_keys=True))
    if size > limit:
        raise bad_request(f"{what} take {size} characters as JSON; the limit is {limit}: pass large values as "
                          "data (a DataPath on a datastore) instead", target, "InvalidField")


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


def _datasets(value: dict[str, Any]) -> dict[str, Any]:
    """AML's ``{name: {"DataSetReference": {"Name", "Version"} | {"Id"}}}`` or ``{"SavedDataSetReference": {"Id"}}``:
    a registered dataset for a dataset parameter (looked up when the run is submitted)."""
    out: dict[str, Any] = {}
    for name, item in value.items():
        where = f"DataSetDefinitionValueAssignments.{name}"
        reference = (item.get("DataSetReference") or item.get("SavedDataSetReference")) if isinstance(item, dict) else None
        if not isinstance(reference, dict):
            raise bad_request(f"{where} must be {{\"DataSetReference\": {{\"Name\": ..., \"Version\": ...}}}} or "
                              f"{{\"SavedDataSetReference\": {{\"Id\": ...}}}}", where, "InvalidField")
        fields = Fields(reference, ("Id", "Name", "Version"), where=where)
        found = {"id": fields.string("Id"), "name": fields.string("Name"), "version": reference.get("Version")}
        if not found["id"] and not found["name"]:
            raise bad_request(f"{where} names no dataset: give its Id, or its Name (and Version)", where, "InvalidField")
        out[name] = found
    return out


def _text(value: str | None, target: str) -> str | None:
    """Refuse NUL and lone surrogates: stored on the run and shown back, they are not text (400, naming the field)."""
    problem = text_problem(value) if value is not None else None
    if problem:
        raise bad_request(f"{target} {problem}; send plain text", target, "InvalidField")
    return value


def _tags(value: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, item in value.items():
        target = f"Tags.{key if text_problem(key) is None else ascii(key)[1:-1]}"
        if isinstance(item, (dict, list)) or item is None:
            raise bad_request(f"{target} must be a string, not {json_type(item)}", target, "InvalidField")
        _text(key, f"{target} (the name)")
        tags[key] = _text(str(item).lower() if isinstance(item, bool) else str(item), target) or ""
    return tags


def parse_submit_body(body: bytes, default_run_source: str = "API") -> SubmitOptions:
    data = parse_json_object(body, "submit", SUBMIT_EXAMPLE)
    return submit_options(Fields(data, SUBMIT_FIELDS, IGNORED_SUBMIT_FIELDS), default_run_source)


def submit_options(fields: Fields, default_run_source: str = "API") -> SubmitOptions:
    """The submit fields of an already split body (shared with ``POST /api/runs``, whose body adds the spec)."""
    experiment = fields.string("ExperimentName", required=True, max_length=255)
    assert experiment is not None
    parameters = _scalar_parameters(fields.obj("ParameterAssignments") or {})
    datapaths = _datapaths(fields.obj("DataPathAssignments") or {})
    datasets = _datasets(fields.obj("DataSetDefinitionValueAssignments") or {})
    _fits("ParameterAssignments and DataPathAssignments", {**parameters, **datapaths}, MAX_ASSIGNMENT_CHARS,
          "ParameterAssignments" if parameters else "DataPathAssignments")
    tags = _tags(fields.obj("Tags") or {})
    _fits("Tags", tags, MAX_TAGS_CHARS, "Tags")
    return SubmitOptions(
        experiment_name=experiment,
        parameters=parameters,
        datapaths=datapaths,
        datasets=datasets,
        description=_text(fields.string("Description", max_length=4096), "Description"),
        tags=tags or None,
        run_source=_text(fields.string("RunSource", max_length=255), "RunSource") or default_run_source,
        continue_on_step_failure=fields.boolean("ContinueOnStepFailure"),
        regenerate_outputs=bool(fields.boolean("RegenerateOutputs")),
        notes=fields.notes,
    )


def fingerprint(options: SubmitOptions, extra: dict[str, Any] | None = None) -> str:
    """Same request -> same fingerprint, whatever the JSON spacing or key order."""
    canonical = json.dumps({"experiment": options.experiment_name, "parameters": options.parameters,
                            "datapaths": options.datapaths, "description": options.description,
                            **({"datasets": options.datasets} if options.datasets else {}),
                            "tags": options.tags, "run_source": options.run_source,
                            "continue_on_step_failure": options.continue_on_step_failure,
                            # only when set, so keys recorded before RegenerateOutputs existed still match
                            **({"regenerate_outputs": True} if options.regenerate_outputs else {}),
                            **(extra or {})},
                           sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
