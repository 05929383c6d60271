"""The Runs page and the Run page.

The Run page is served whole (summary, the graph as SVG, the steps as a
table), so it shows the run without waiting for any script; ``run.js`` then
polls ``GET /api/runs/{id}/view`` and recolours the graph in place, opens the
step panel, follows logs, and drives Cancel and Resubmit.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.application.stores import pipeline_store
from pipeline_core.engine.services import Services
from pipeline_core.rest.body import query_int
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.views.handlers import load_spec_or_none
from pipeline_core.rest.views.run_view import format_duration, parse_time, run_view
from pipeline_core.status import RunStatus
from pipeline_core.storage.run_store import ALLOWED, CANCEL_REQUESTED, TERMINAL
from pipeline_core.webview.graph_svg import render_graph, step_meta
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
from pipeline_core.webview.runs_list import list_runs_page

HTML = "text/html; charset=utf-8"
STATUSES = tuple(RunStatus)
assert set(STATUSES) == set(ALLOWED) | TERMINAL


def html_response(text: str, status: int = 200) -> ServiceResponse:
    return ServiceResponse(status, text, {"Cache-Control": "no-store"}, content_type=HTML)


def run_link(viewer: Viewer, run_id: str, text: str | None = None) -> str:
    return f'<a href="{href(viewer, f"{UI_PREFIX}/runs/{seg(run_id)}")}">{esc(text or run_id)}</a>'


def pipeline_link(viewer: Viewer, pipeline_id: str | None, names: dict[str, str]) -> str:
    if not pipeline_id:
        return ""
    label = names.get(pipeline_id) or short_id(pipeline_id)
    return f'<a href="{href(viewer, f"{UI_PREFIX}/pipelines/{seg(pipeline_id)}")}">{esc(label)}</a>'


def _duration(row: dict[str, Any]) -> str:
    start, end = parse_time(row.get("start_time")), parse_time(row.get("end_time"))
    if start is None or end is None:
        return "running" if start is not None and row.get("status") not in TERMINAL else ""
    return format_duration((end - start).total_seconds())


def _select(name: str, label: str, current: str | None, choices: list[tuple[str, str]]) -> str:
    options = "".join(f'<option value="{esc(v)}"' + (" selected" if v == (current or "") else "") + f">{esc(t)}</option>"
                      for v, t in [("", "any"), *choices])
    return f'<label>{esc(label)} <select name="{esc(name)}">{options}</select></label>'


def runs_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/runs?experiment=&status=&pipeline=&page=: newest first, 25 a page."""
    experiment = request.query_value("experiment") or None
    status = request.query_value("status") or None
    pipeline = request.query_value("pipeline") or None
    number = query_int(request, "page", 1, 1, 10**6)
    found = list_runs_page(services, experiment, status, pipeline, number)
    names = {r.id: f"{r.name} v{r.version}" if r.version else r.name
             for r in pipeline_store(services).list(active_only=False)}
    rows = []
    for row in found.rows:
        run_id = row["PartitionKey"]
        params = {k: v for k, v in (row.get("parameters") or {}).items()}
        rows.append([run_link(viewer, run_id, short_id(run_id)), esc(row.get("experiment")), badge(row.get("status")),
                     fmt_time(row.get("created_time"), False), esc(_duration(row)),
                     esc(row.get("run_source") or "SDK") + (f' <span class="muted">{esc(short_id(row["schedule_id"]))}'
                                                             "</span>" if row.get("schedule_id") else ""),
                     f'<span class="params">{esc(params_text(params))}</span>',
                     pipeline_link(viewer, row.get("pipeline_id"), names)])
    form = (f'<form class="filters" method="get" action="{UI_PREFIX}/runs" role="search" aria-label="Filter runs">'
            + (f'<input type="hidden" name="code" value="{esc(viewer.key)}">' if viewer.key else "")
            + _select("experiment", "Experiment", experiment, [(e, e) for e in found.experiments])
            + _select("status", "Status", status, [(s, f"{s} ({found.statuses.get(s, 0)})") for s in STATUSES])
            + _select("pipeline", "Pipeline", pipeline, [(p, names.get(p) or short_id(p, 12)) for p in found.pipelines])
            + '<button type="submit">Filter</button>'
            + f'<a class="button secondary" href="{href(viewer, f"{UI_PREFIX}/runs")}">Clear</a></form>')
    query = {"experiment": experiment, "status": status, "pipeline": pipeline}
    pager = [f'<span>{found.total} run{"s" if found.total != 1 else ""} \u00b7 page {found.page} of {found.pages}'
             "</span>"]
    if found.page > 1:
        pager.insert(0, f'<a rel="prev" href="{href(viewer, f"{UI_PREFIX}/runs", **query, page=found.page - 1)}">'
                        "\u2190 Newer</a>")
    if found.page < found.pages:
        pager.append(f'<a rel="next" href="{href(viewer, f"{UI_PREFIX}/runs", **query, page=found.page + 1)}">'
                     "Older \u2192</a>")
    body = (f'<div class="title-row"><h1>Runs</h1><a class="button secondary" href="'
            f'{href(viewer, f"{UI_PREFIX}/runs", **query, page=found.page)}">Refresh</a></div>' + form
            + table(["Run", "Experiment", "Status", "Created (UTC)", "Duration", "Trigger", "Parameters", "Pipeline"], rows,
                    empty="No runs match. Submit one from Pipelines, the SDK or `amlite run`.", css="runs")
            + f'<nav class="pager" aria-label="Pages">{"".join(pager)}</nav>')
    return html_response(page(viewer, "Runs", body, active="runs"))


def _steps_table(view: dict[str, Any]) -> str:
    rows = []
    for step in view["Steps"]:
        rows.append([f'<button type="button" class="linklike step-pick" data-step="{esc(step["Name"])}">'
                     f'{esc(step["Name"])}</button>',
                     f'<span class="badge st-{esc(step["Status"])}" data-field="status">{esc(step["Status"])}</span>',
                     f'<span data-field="reuse">{esc(step["Reuse"])}</span>',
                     f'<span data-field="duration">{esc(step["DurationText"])}</span>',
                     f'<span data-field="meta">{esc(step_meta(step))}</span>'])
    return table(["Step", "Status", "Reuse", "Duration", "Summary"], rows, css="steps")


def _summary(view: dict[str, Any], viewer: Viewer, pipeline_names: dict[str, str]) -> str:
    run = view["Run"]
    params = {**run["ParameterAssignments"], **run["DataPathAssignments"]}
    schedule = run.get("ScheduleId")
    trigger = esc(run["RunSource"]) + (
        f' (<a href="{href(viewer, f"{UI_PREFIX}/schedules/{seg(schedule)}")}">schedule {esc(short_id(schedule))}</a>)'
        if schedule else "")
    endpoint = run.get("PipelineEndpointId")
    return definition_list([
        ("Experiment", f'<a href="{href(viewer, f"{UI_PREFIX}/runs", experiment=run["ExperimentName"])}">'
                       f'{esc(run["ExperimentName"])}</a>'),
        ("Pipeline", pipeline_link(viewer, run.get("PipelineId"), pipeline_names)),
        ("Endpoint", f'<a href="{href(viewer, f"{UI_PREFIX}/endpoints/{seg(endpoint)}")}">{esc(short_id(endpoint))}'
                     "</a>" if endpoint else ""),
        ("Trigger", trigger),
        ("Submitted by", esc(run.get("SubmittedBy"))),
        ("Created", fmt_time(run.get("CreationTime"))),
        ("Started", f'<span data-run="start">{fmt_time(run.get("StartTime")) or "-"}</span>'),
        ("Ended", f'<span data-run="end">{fmt_time(run.get("EndTime")) or "-"}</span>'),
        ("Duration", f'<span data-run="duration">{esc(run.get("DurationText")) or "-"}</span>'),
        ("Parameters", f'<span class="params">{esc(params_text(params, 400))}</span>' if params else "none"),
        ("Description", esc(run.get("Description"))),
    ])


def _actions(view: dict[str, Any], viewer: Viewer) -> str:
    run = view["Run"]
    if not viewer.can_submit:
        return ('<p class="muted" id="readonly-note">Read only: cancelling and resubmitting need the '
                "Pipelines.Submit role.</p>")
    hidden = " hidden" if run["Terminal"] or run["Status"] == CANCEL_REQUESTED else ""
    return ('<div class="actions">'
            f'<button type="button" id="cancel-run" class="danger"{hidden}>Cancel run</button>'
            '<button type="button" id="resubmit-run">Resubmit\u2026</button></div>')


def _dialogs(view: dict[str, Any], viewer: Viewer) -> str:
    if not viewer.can_submit:
        return ""
    run = view["Run"]
    fields = []
    for name, value in run["ParameterAssignments"].items():
        fields.append(f'<label>{esc(name)} <input name="param:{esc(name)}" value="{esc(value)}" '
                      f'data-type="{type(value).__name__}"></label>')
    for name, value in run["DataPathAssignments"].items():
        fields.append(f'<fieldset><legend>{esc(name)} (DataPath)</legend>'
                      f'<label>Datastore <input name="datastore:{esc(name)}" value="{esc(value.get("DataStoreName"))}">'
                      f'</label><label>Path <input name="path:{esc(name)}" value="{esc(value.get("RelativePath"))}">'
                      "</label></fieldset>")
    return (
        '<dialog id="cancel-dialog" aria-labelledby="cancel-title"><form method="dialog">'
        '<h2 id="cancel-title">Cancel this run?</h2><p>Running steps are stopped; steps not started are skipped.</p>'
        '<div class="actions"><button value="confirm" class="danger" id="cancel-confirm">Cancel run</button>'
        '<button value="keep" class="secondary" autofocus>Keep running</button></div></form></dialog>'
        '<dialog id="resubmit-dialog" aria-labelledby="resubmit-title"><form id="resubmit-form" method="dialog">'
        '<h2 id="resubmit-title">Resubmit with parameters</h2>'
        f'<label>Experiment <input name="experiment" required value="{esc(run["ExperimentName"])}"></label>'
        + "".join(fields) +
        '<label class="check"><input type="checkbox" name="regenerate"> Regenerate outputs (reuse nothing)</label>'
        '<p class="form-error" role="alert" hidden></p>'
        '<div class="actions"><button type="submit" value="submit" id="resubmit-confirm">Submit run</button>'
        '<button type="button" class="secondary" data-close>Close</button></div></form></dialog>')


def error_block(text: str | None, element_id: str) -> str:
    """An error's first line, with the rest (a traceback) folded under its last line."""
    lines = (text or "").strip().splitlines()
    hidden = "" if lines else " hidden"
    rest = (f'<details class="error-details"><summary>{esc(lines[-1])}</summary><pre>{esc(text)}</pre></details>'
            if len(lines) > 1 else "")
    return (f'<div class="error-box" role="alert" id="{esc(element_id)}"{hidden}><strong>'
            f'{esc(lines[0] if lines else "")}</strong>{rest}</div>')


def run_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/runs/{run_id}: summary, live graph, steps, and the step panel."""
    run_id = route_key(request, "run", "run_id")
    state = services.runs.get_state(run_id)
    view = run_view(state, load_spec_or_none(services, state.run.get("graph_id")))
    run = view["Run"]
    names = {}
    if run.get("PipelineId"):
        try:
            record = pipeline_store(services).get(run["PipelineId"])
            names[record.id] = f"{record.name} v{record.version}" if record.version else record.name
        except Exception:  # noqa: BLE001 - a deleted pipeline still leaves its runs readable
            pass
    error = error_block(run.get("Error"), "run-error")
    notes = "".join(f"<li>{esc(n)}</li>" for n in run.get("Notes") or [])
    counts = " \u00b7 ".join(f"{n} {s}" for s, n in view["StatusCounts"].items())
    body = (
        f'<nav class="crumbs" aria-label="Breadcrumb"><a href="{href(viewer, f"{UI_PREFIX}/runs")}">Runs</a> \u203a '
        f'<a href="{href(viewer, f"{UI_PREFIX}/runs", experiment=run["ExperimentName"])}">{esc(run["ExperimentName"])}'
        f"</a></nav>"
        f'<div class="title-row"><h1>Run <span class="mono">{esc(run_id)}</span></h1>'
        f'{badge(run["Status"], "run-status")}<span class="live" id="live-note" aria-live="polite"></span></div>'
        + _actions(view, viewer) + error + _summary(view, viewer, names)
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + '<div class="run-grid"><section class="graph-pane" aria-labelledby="graph-title">'
        '<div class="pane-head"><h2 id="graph-title">Steps</h2>'
        f'<span class="muted" id="step-counts">{esc(counts)}</span>'
        '<span class="spacer"></span><button type="button" class="secondary small" id="fit-graph" '
        'aria-pressed="false">Fit</button></div>'
        '<p class="legend" aria-hidden="true">'
        + "".join(f'<span class="badge st-{s}">{s}</span>' for s in RunStatus
                 if s != RunStatus.CANCEL_REQUESTED)
        + '<span class="badge reused-badge">reused</span><span class="edge-key data">data</span>'
        '<span class="edge-key after">run_after</span></p>'
        f'<div class="graph-scroll" id="graph">{render_graph(view)}</div>'
        '<details class="steps-list"><summary>Steps as a table</summary>' + _steps_table(view) + "</details>"
        '</section><aside class="step-panel" id="step-panel" aria-label="Step details" tabindex="-1">'
        '<p class="muted">Select a step (click it, or Tab to the graph and use the arrow keys, then Enter) to see '
        "its logs, outputs and why it ran.</p></aside></div>"
        + _dialogs(view, viewer)
    )
    config = {"page": "run", "runId": run_id, "view": view, "terminal": sorted(TERMINAL),
              "cancelRequested": RunStatus.CANCEL_REQUESTED,
              "urls": {"view": f"/api/runs/{seg(run_id)}/view", "run": f"/api/runs/{seg(run_id)}",
                       "ui": UI_PREFIX}}
    return html_response(page(viewer, f"Run {short_id(run_id)}", body, active="runs", config=config,
                              scripts=("app.js", "run.js")))
