"""Schedules: the list (trigger, next fire, last run) and each schedule's page (settings, next fire times in
UTC and its time zone, runs it started, every trigger decision).

Texts and times come from what ``amlite schedules`` and the schedule routes
already compute (``trigger_text``, ``fire_time_entries``, ``decision_entity``),
through the SDK's ``Schedule`` built from the API entity.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.errors import NotFoundError
from pipeline_core.pipeline.core.schedule import Schedule
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.schedules.entities import decision_entity, schedule_entity
from pipeline_core.rest.schedules.handlers import fire_time_entries
from pipeline_core.run_text import trigger_text
from pipeline_core.schedules import manage
from pipeline_core.webview.html import (
    UI_PREFIX,
    Viewer,
    badge,
    definition_list,
    esc,
    fmt_time,
    href,
    page,
    params_text,
    seg,
    short_id,
    table,
)
from pipeline_core.webview.pages_runs import html_response, run_link

NEXT_COUNT = 10
HISTORY_TOP = 100


def _target(viewer: Viewer, entity: dict[str, Any]) -> str:
    pipeline = entity.get("PipelineId")
    if pipeline:
        return (f'<a href="{href(viewer, f"{UI_PREFIX}/pipelines/{seg(pipeline)}")}">pipeline '
                f"{esc(short_id(pipeline))}</a>")
    endpoint = entity.get("PipelineEndpointId") or ""
    return f'<a href="{href(viewer, f"{UI_PREFIX}/endpoints/{seg(endpoint)}")}">endpoint {esc(short_id(endpoint))}</a>'


def _schedule(services: Services, entity: dict[str, Any]) -> Schedule:
    return Schedule._from_entity(services.workspace, entity)


def schedules_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/schedules: every schedule, disabled ones too."""
    rows = []
    for record in manage.schedule_store(services).list(active_only=False):
        entity = schedule_entity(record, request.base)
        last = entity.get("LastRunId")
        rows.append([f'<a href="{href(viewer, f"{UI_PREFIX}/schedules/{seg(record.id)}")}">{esc(record.name)}</a>',
                     badge(record.status), _target(viewer, entity), esc(record.experiment_name),
                     esc(trigger_text(_schedule(services, entity))), fmt_time(entity.get("NextFireTime"), False) or "-",
                     run_link(viewer, last, short_id(last)) if last else "-"])
    body = ("<h1>Schedules</h1>"
            + table(["Schedule", "Status", "Runs", "Experiment", "Trigger", "Next fire (UTC)", "Last run"], rows,
                    empty="No schedules yet: Schedule.create(ws, name=..., pipeline_id=..., recurrence=...)."))
    return html_response(page(viewer, "Schedules", body, active="schedules"))


def _history(decisions: list[dict[str, Any]], viewer: Viewer) -> str:
    rows = []
    for d in decisions:
        what = d.get("FireTime") or (f"{d.get('DataStoreName')}/{d.get('Blob')}" if d.get("Blob") else "")
        decision = d["Decision"] + (f": {d['Reason']}" if d.get("Reason") else "")
        rows.append([fmt_time(d.get("Time"), False), f'<span class="decision d-{esc(d["Decision"])}">{esc(decision)}</span>',
                     esc(d.get("Trigger")), run_link(viewer, d["RunId"], short_id(d["RunId"])) if d.get("RunId") else "-",
                     esc(what), esc(d.get("Message"))])
    return table(["Time (UTC)", "Decision", "Trigger", "Run", "Fire time / blob", "Message"], rows,
                 empty="No decisions yet: the schedule has not been due.")


def schedule_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/schedules/{schedule_id}."""
    schedule_id = route_key(request, "schedule", "schedule_id")
    record = manage.schedule_store(services).get(schedule_id)
    entity = schedule_entity(record, request.base)
    schedule = _schedule(services, entity)
    times = fire_time_entries(record, NEXT_COUNT)
    if record.recurrence:
        fire_rows = [[fmt_time(t["Time"], False), esc(t["LocalTime"])] for t in times["Value"]]
        upcoming = table(["UTC", f"Local ({times['TimeZone']})"], fire_rows,
                         empty="No fire times: the schedule is disabled.")
    else:
        upcoming = '<p class="muted">A data-change schedule fires when blobs change, not at set times.</p>'
    runs = []
    for run_id in manage.fired_run_ids(services, schedule_id, 20):
        try:
            row = services.runs.get_run(run_id)
        except NotFoundError:
            continue
        runs.append([run_link(viewer, run_id, short_id(run_id)), badge(row.get("status")),
                     fmt_time(row.get("created_time"), False)])
    pending = entity.get("PendingChange")
    facts = definition_list([
        ("Id", f'<span class="mono">{esc(record.id)}</span>'), ("Status", badge(record.status)),
        ("Description", esc(record.description)), ("Runs", _target(viewer, entity)),
        ("Experiment", esc(record.experiment_name)), ("Trigger", esc(trigger_text(schedule))),
        ("Next fire", fmt_time(entity.get("NextFireTime")) or "-"),
        ("DataPath parameter", esc(record.data_path_parameter_name)),
        ("Parameters", esc(params_text(dict(record.pipeline_parameters), 300))),
        ("Held change", esc(f"{pending['Blob']} ({pending['Changes']} change(s)), fires at {pending['FiresAt']}")
         if pending else ""),
        ("Created", fmt_time(record.created_time))])
    decisions = [decision_entity(d) for d in manage.history(services, schedule_id, HISTORY_TOP)]
    body = (f'<nav class="crumbs" aria-label="Breadcrumb"><a href="{href(viewer, f"{UI_PREFIX}/schedules")}">'
            f'Schedules</a></nav><div class="title-row"><h1>Schedule {esc(record.name)}</h1>'
            f"{badge(record.status)}</div>" + facts
            + f'<div class="two-col"><div><h2>Next fire times</h2>{upcoming}</div><div><h2>Runs it started</h2>'
            + table(["Run", "Status", "Created (UTC)"], runs, empty="No runs yet.") + "</div></div>"
            + "<h2>Decision history</h2>" + _history(decisions, viewer))
    return html_response(page(viewer, f"Schedule {record.name}", body, active="schedules"))
