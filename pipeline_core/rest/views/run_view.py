"""A run as the run view shows it: the run, its steps with everything the step panel needs, and the edges.

Pure: it takes the rows ``RunStore.get_state`` reads (or ``RestRunSource``
gets over REST, same shape) and the run's spec, so the web page, its polling
JSON route (``GET /api/runs/{id}/view``) and the notebook widget all say the
same thing. The API's own shapes are reused where they exist (``run_entity``'s
status and parameters, ``progress_entity``); the texts come from
``pipeline_core.run_text``, as ``amlite show`` prints them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from pipeline_core.rest.runs.entities import progress_entity, split_assignments
from pipeline_core.run_text import progress_text, reuse_text, search_text
from pipeline_core.spec import PipelineSpec
from pipeline_core.status import status_of
from pipeline_core.storage.run_store import TERMINAL, RunState

#: Run statuses after which nothing changes (CancelRequested still moves on to Canceled).
TERMINAL_STATUSES = tuple(sorted(TERMINAL))


def parse_time(text: Any) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def duration_seconds(row: dict[str, Any], now: datetime | None = None) -> float | None:
    """Start to end; a row still going counts up to ``now``; None before it started."""
    start = parse_time(row.get("start_time"))
    if start is None:
        return None
    end = parse_time(row.get("end_time"))
    if end is None:
        if row.get("status") in TERMINAL:
            return None
        end = now or datetime.now(timezone.utc)
    return max(0.0, (end - start).total_seconds())


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def trigger_of(run: dict[str, Any]) -> str:
    """Who started the run: ``Schedule``, ``API`` (REST), ``SDK``, ``Web`` ... with the schedule's id if any."""
    source = str(run.get("run_source") or "SDK")
    if run.get("schedule_id"):
        return f"{source} {run['schedule_id']}"
    return source


def _error_message(row: dict[str, Any]) -> str | None:
    error = row.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "") or None
    return str(error) if error else None


def graph_edges(spec: PipelineSpec | None) -> list[dict[str, Any]]:
    """Data edges (named by the data they carry) and ``run_after`` edges of the spec, in spec order."""
    if spec is None:
        return []
    return [{"From": e["from"], "To": e["to"], "Kind": "data" if e.get("via") else "run_after",
             "Data": e.get("via")} for e in spec.doc.get("edges", [])]


def _max_attempts(spec: PipelineSpec | None, name: str) -> int:
    if spec is None:
        return 1
    try:
        retry = spec.step(name).get("retry") or {}
    except KeyError:
        return 1
    return int(retry.get("max_attempts") or 1)


def step_view(row: dict[str, Any], spec: PipelineSpec | None, now: datetime) -> dict[str, Any]:
    outputs = [{"Name": data_id, "DataStoreName": loc.get("datastore"), "RelativePath": loc.get("path"),
                "Count": loc.get("count")}
               for data_id, loc in sorted((row.get("outputs") or {}).items()) if isinstance(loc, dict)]
    duration = duration_seconds(row, now)
    progress = progress_entity(row.get("progress"))
    return {
        "Name": row["name"],
        "Index": int(row.get("index") or 0),
        "StepType": row.get("step_type") or "",
        "Status": status_of(row.get("status")),
        "IsReused": bool(row.get("is_reused")),
        "ReusedRunId": row.get("reused_run_id") or None,
        "Reuse": reuse_text(row),
        "StartTime": row.get("start_time") or None,
        "EndTime": row.get("end_time") or None,
        "Duration": duration,
        "DurationText": format_duration(duration),
        "Attempt": int(row.get("attempt") or 0),
        "MaxAttempts": _max_attempts(spec, row["name"]),
        "Error": _error_message(row),
        "Progress": progress,
        "ProgressText": progress_text(row.get("progress")) or search_text(row.get("search")),
        "Outputs": outputs,
    }


def run_view(state: RunState, spec: PipelineSpec | None, now: datetime | None = None) -> dict[str, Any]:
    """Everything the run page and the widget show, JSON-ready (PascalCase, like the rest of the API)."""
    now = now or datetime.now(timezone.utc)
    run = state.run
    params, datapaths = split_assignments(run.get("parameters") or {})
    duration = duration_seconds(run, now)
    steps = [step_view(row, spec, now) for row in state.steps.values()]
    counts = Counter(s["Status"] for s in steps)
    recorded = run.get("recorded") if isinstance(run.get("recorded"), dict) else {}
    return {
        "Run": {
            "Id": run["PartitionKey"],
            "ExperimentName": run.get("experiment"),
            "Status": status_of(run.get("status")),
            "Terminal": run.get("status") in TERMINAL,
            "CreationTime": run.get("created_time") or None,
            "StartTime": run.get("start_time") or None,
            "EndTime": run.get("end_time") or None,
            "Duration": duration,
            "DurationText": format_duration(duration),
            "Trigger": trigger_of(run),
            "RunSource": run.get("run_source") or "SDK",
            "ScheduleId": run.get("schedule_id") or None,
            "PipelineId": run.get("pipeline_id") or None,
            "PipelineEndpointId": run.get("pipeline_endpoint_id") or None,
            "GraphId": run.get("graph_id"),
            "Description": run.get("description") or "",
            "SubmittedBy": run.get("submitted_by") or None,
            "ParameterAssignments": params,
            "DataPathAssignments": datapaths,
            "Error": _error_message(run),
            "Notes": list((recorded or {}).get("notes") or []),
        },
        "Steps": steps,
        "Edges": graph_edges(spec),
        "StatusCounts": dict(sorted(counts.items())),
    }
