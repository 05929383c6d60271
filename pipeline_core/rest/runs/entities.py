"""JSON shapes of runs and steps, in AML v1's PascalCase (``Id``, ``Status.StatusCode``, ...).

Kept apart from the handlers so the OpenAPI schemas (``schemas.py`` next to
this module) and the real answers can be compared field by field.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.links import run_url, step_log_url
from pipeline_core.runcontext.values import json_safe
from pipeline_core.status import status_of


def _none_if_empty(value: Any) -> Any:
    return value if value not in ("", None) else None


def _error_message(row: dict[str, Any]) -> str | None:
    error = row.get("error")
    if isinstance(error, dict):
        return error.get("message")
    return _none_if_empty(error)


def status_entity(row: dict[str, Any]) -> dict[str, Any]:
    return {"StatusCode": status_of(row.get("status")),
            "StatusDetail": _none_if_empty(row.get("status_detail")) or _error_message(row),
            "CreationTime": _none_if_empty(row.get("created_time")),
            "StartTime": _none_if_empty(row.get("start_time")),
            "EndTime": _none_if_empty(row.get("end_time"))}


def split_assignments(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Stored parameter values -> (ParameterAssignments, DataPathAssignments) as AML reports them."""
    params: dict[str, Any] = {}
    datapaths: dict[str, dict[str, str]] = {}
    for name, value in (values or {}).items():
        if isinstance(value, dict) and "datastore" in value:
            datapaths[name] = {"DataStoreName": value["datastore"], "RelativePath": value.get("path") or ""}
        else:
            params[name] = value
    return params, datapaths


def run_entity(row: dict[str, Any], base: str, steps: list[dict[str, Any]] | None = None,
               metrics: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``metrics`` (``{step: {name: value}}``, "" for the run's own), when asked for, fills ``Metrics``."""
    run_id = row["PartitionKey"]
    params, datapaths = split_assignments(row.get("parameters") or {})
    recorded = row.get("recorded") if isinstance(row.get("recorded"), dict) else {}
    entity: dict[str, Any] = {
        "Id": run_id,
        "ExperimentName": row.get("experiment"),
        "RunHistoryExperimentName": row.get("experiment"),
        "PipelineId": _none_if_empty(row.get("pipeline_id")),
        "PipelineEndpointId": _none_if_empty(row.get("pipeline_endpoint_id")),
        "GraphId": row.get("graph_id"),
        "Status": status_entity(row),
        "ParameterAssignments": params,
        "DataPathAssignments": datapaths,
        "Description": row.get("description") or "",
        "Tags": row.get("tags") or {},
        "RunSource": row.get("run_source") or "",
        "ContinueOnStepFailure": bool(row.get("continue_on_step_failure")),
        "RegenerateOutputs": bool(row.get("regenerate_outputs")),
        "Error": row.get("error") or None,
        "Notes": list((recorded or {}).get("notes") or []),
        "RunUrl": run_url(base, run_id),
    }
    if metrics is not None:
        entity["Metrics"] = json_safe(metrics.get("", {}))
    if steps is not None:
        entity["Steps"] = [step_entity(step, run_id, base, metrics) for step in steps]
    return entity


def step_entity(row: dict[str, Any], run_id: str, base: str,
                metrics: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    name = row["name"]
    outputs = {data_id: {"DataStoreName": loc.get("datastore"), "RelativePath": loc.get("path")}
               for data_id, loc in (row.get("outputs") or {}).items() if isinstance(loc, dict)}
    return {
        "Id": f"{run_id}_{name}",
        "Name": name,
        "StepType": row.get("step_type") or "",
        "Status": status_entity(row),
        "IsReused": bool(row.get("is_reused")),
        "ReusedRunId": _none_if_empty(row.get("reused_run_id")),
        "Attempt": int(row.get("attempt") or 0),
        "Outputs": outputs,
        "Error": row.get("error") or None,
        "LogUrl": step_log_url(base, run_id, name),
        "Progress": progress_entity(row.get("progress")),
        "Remote": row.get("remote") or None,
        **({"Metrics": json_safe(metrics.get(name, {}))} if metrics is not None else {}),
        **({"ChildRuns": [child_entity(child, run_id, metrics) for child in row["child_runs"]]}
           if row.get("child_runs") else {}),
    }


def child_entity(row: dict[str, Any], run_id: str, metrics: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A step's child run (a HyperDrive or AutoML trial): id, status, parameters, error, and its metrics when asked."""
    name = row["name"]
    return {"Id": f"{run_id}_{name}", "Name": name, "Status": status_entity(row),
            "Parameters": json_safe(row.get("parameters") or {}), "Error": row.get("error") or None,
            **({"Metrics": json_safe(metrics.get(name, {}))} if metrics is not None else {})}


#: Step-row ``progress`` keys (see ``parallel.report``) -> the REST entity's names.
PROGRESS_NAMES = {"total": "Total", "processed": "Processed", "succeeded": "Succeeded", "failed": "Failed",
                  "batches": "MiniBatches", "finished_batches": "FinishedMiniBatches",
                  "failed_batches": "FailedMiniBatches"}


def progress_entity(progress: Any) -> dict[str, Any] | None:
    """A ParallelRunStep's item and mini-batch counts (``Total`` is null while a tabular input's rows are
    uncounted); null for other steps."""
    if not isinstance(progress, dict):
        return None
    return {name: (int(progress[key]) if progress.get(key) is not None else None)
            for key, name in PROGRESS_NAMES.items()}
