"""Short texts about a run's steps that every view shows the same way: ``amlite show``, the web run view,
the notebook widget.

Kept in one place so a step's reuse decision reads identically in a terminal, a browser and a notebook.
"""

from __future__ import annotations

from typing import Any


def reuse_text(row: dict[str, Any]) -> str:
    """Why a step ran or was reused: ``reused from RUN``, ``ran: script changed, ...``, or the recorded decision."""
    found = row.get("reuse")
    reuse: dict[str, Any] = found if isinstance(found, dict) else {}
    if row.get("is_reused"):
        return f"reused from {row.get('reused_run_id')}"
    if reuse.get("changed"):
        return "ran: " + ", ".join(str(part) for part in reuse["changed"])
    return str(reuse.get("decision") or "")


def progress_text(progress: Any) -> str:
    """A ParallelRunStep's counts as one line (the log's progress line without its prefix); '' for other steps."""
    from pipeline_core.parallel.report import progress_line

    if not isinstance(progress, dict):
        return ""
    return progress_line(progress).removeprefix("[amlite] progress: ")


def trigger_text(schedule: Any) -> str:
    """What fires a schedule, in one line (its recurrence, or the watched datastore path); the web view shows it too."""
    if schedule.recurrence is not None:
        return repr(schedule.recurrence).removeprefix("ScheduleRecurrence(").removesuffix(")")
    path = schedule.path_on_datastore or "(whole container)"
    extra = "" if schedule.recursive else ", no sub-folders"
    if schedule.debounce_seconds:
        extra += f", debounce {schedule.debounce_seconds:g} s"
    return f"{schedule.datastore_name}/{path}{extra}, poll every {schedule.polling_interval} min"


def search_text(search: Any) -> str:
    """A step's child runs (HyperDriveStep's, AutoMLStep's) as one line: counts by status, the best child."""
    if not isinstance(search, dict) or not search.get("children"):
        return ""
    statuses = ", ".join(f"{n} {s.lower()}" for s, n in (search.get("statuses") or {}).items())
    text = f"{search['children']} child runs: {statuses}"
    if search.get("best_child_run"):
        text += f"; best {search['best_child_run']} ({search.get('primary_metric')}={search.get('best_primary_metric')})"
    return text
