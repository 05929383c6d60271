"""Published pipelines and pipeline endpoints: the list, each one's page with its REST URL, copyable snippets,
and a Submit form built from the declared parameters.

The answers are the API's own entities (``pipeline_entity``, ``endpoint_entity``),
so the page shows exactly what ``GET /api/pipelines/{id}`` says. The form posts
the AML submit body to the same URL a script would (``app.js``), then opens the
new run.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_core.application.stores import endpoint_store, pipeline_store
from pipeline_core.engine.services import Services
from pipeline_core.rest.endpoints.entities import endpoint_entity
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.pipelines.entities import pipeline_entity
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.schedules.entities import schedule_entity
from pipeline_core.storage.pipeline_store import PipelineRecord
from pipeline_core.webview.html import (
    UI_PREFIX,
    Viewer,
    badge,
    copy_block,
    definition_list,
    esc,
    fmt_time,
    href,
    page,
    seg,
    short_id,
    table,
)
from pipeline_core.webview.pages_runs import html_response, run_link
from pipeline_core.webview.runs_list import list_runs_page


def _pipeline_href(viewer: Viewer, pipeline_id: str) -> str:
    return href(viewer, f"{UI_PREFIX}/pipelines/{seg(pipeline_id)}")


def _endpoint_href(viewer: Viewer, endpoint_id: str) -> str:
    return href(viewer, f"{UI_PREFIX}/endpoints/{seg(endpoint_id)}")


def pipelines_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/pipelines: every published pipeline and endpoint, disabled ones too."""
    records = pipeline_store(services).list(active_only=False)
    endpoints = [endpoint_entity(r, endpoint_store(services).versions(r.name), request.base)
                 for r in endpoint_store(services).list(active_only=False)]
    on_endpoints: dict[str, list[str]] = {}
    for e in endpoints:
        for v in e["Versions"]:
            on_endpoints.setdefault(v["PipelineId"], []).append(f'{e["Name"]} v{v["Version"]}')
    names = {r.id: r.name for r in records}
    pipeline_rows = [[f'<a href="{_pipeline_href(viewer, r.id)}">{esc(r.name)}</a>', esc(r.version or "-"),
                      badge(r.status), f'<span class="mono">{esc(short_id(r.id, 13))}</span>',
                      esc(", ".join(sorted(r.parameters)) or "none"), esc(", ".join(on_endpoints.get(r.id, []))),
                      fmt_time(r.created_time, False)] for r in records]
    endpoint_rows = []
    for e in endpoints:
        versions = ", ".join(f'<a href="{_pipeline_href(viewer, v["PipelineId"])}">v{esc(v["Version"])}'
                             f'{" (default)" if v["Version"] == e["DefaultVersion"] else ""}</a>'
                             for v in e["Versions"])
        default = next((v["PipelineId"] for v in e["Versions"] if v["Version"] == e["DefaultVersion"]), "")
        endpoint_rows.append([f'<a href="{_endpoint_href(viewer, e["Id"])}">{esc(e["Name"])}</a>',
                              esc(e["DefaultVersion"]) + (f' <span class="muted">{esc(names.get(default, ""))}</span>'
                                                          if default else ""),
                              versions, badge(e["Status"]), fmt_time(e["UpdatedTime"], False)])
    body = ('<h1>Pipelines</h1><h2 id="published">Published pipelines</h2>'
            + table(["Name", "Version", "Status", "Id", "Parameters", "On endpoints", "Published (UTC)"], pipeline_rows,
                    empty="Nothing published yet: Pipeline.publish(name=...) or POST /api/pipelines.")
            + '<h2 id="endpoints">Pipeline endpoints</h2>'
            + table(["Name", "Default version", "Versions", "Status", "Updated (UTC)"], endpoint_rows,
                    empty="No pipeline endpoints yet: PipelineEndpoint.publish(ws, name, description, pipeline)."))
    return html_response(page(viewer, "Pipelines", body, active="pipelines"))


def snippets(url: str, parameters: dict[str, Any], auth_mode: str) -> tuple[str, str]:
    """A ``curl`` line and the Python of AML's REST sample, for ``url`` with the declared defaults filled in."""
    body = {"ExperimentName": "my-experiment",
            "ParameterAssignments": {n: p.get("DefaultValue") for n, p in parameters.items()
                                     if p.get("Type") != "datapath"}}
    text = json.dumps(body)
    if auth_mode == "key":
        header, python_auth = '-H "x-functions-key: $FUNCTION_KEY"', '{"x-functions-key": os.environ["FUNCTION_KEY"]}'
    elif auth_mode == "none":
        header, python_auth = "", "{}"
    else:
        header = '-H "Authorization: Bearer $TOKEN"'
        python_auth = "InteractiveLoginAuthentication().get_authentication_header()"
    curl = (f"curl -X POST {json.dumps(url)} {header} -H \"Content-Type: application/json\" "
            f"-d '{text}'").replace("  ", " ")
    python = ("import os\nimport requests\n"
              + ("from pipeline_core.core.authentication import InteractiveLoginAuthentication\n"
                 if "Interactive" in python_auth else "")
              + f"\nrest_endpoint = {json.dumps(url)}\nauth_header = {python_auth}\n"
              f"response = requests.post(rest_endpoint, headers=auth_header, json={text})\n"
              "response.raise_for_status()\nprint(response.json()[\"Id\"])\n")
    return curl, python


def submit_form(viewer: Viewer, action: str, parameters: dict[str, Any], experiment: str) -> str:
    """A form with one field per declared parameter (DataPath: datastore and path), posted by ``app.js``."""
    fields = []
    for name, spec in sorted(parameters.items()):
        kind = spec.get("Type") or "string"
        default = spec.get("DefaultValue")
        if kind == "datapath":
            value = default if isinstance(default, dict) else {}
            fields.append(f'<fieldset><legend>{esc(name)} <span class="muted">DataPath</span></legend>'
                          f'<label>Datastore <input name="datastore:{esc(name)}" value="{esc(value.get("datastore"))}">'
                          f'</label><label>Path <input name="path:{esc(name)}" value="{esc(value.get("path"))}">'
                          "</label></fieldset>")
        elif kind == "bool":
            checked = " checked" if default in (True, "true", "True") else ""
            fields.append(f'<label class="check"><input type="checkbox" name="bool:{esc(name)}"{checked}> '
                          f'{esc(name)}</label>')
        else:
            step = ' inputmode="decimal"' if kind in ("int", "float") else ""
            fields.append(f'<label>{esc(name)} <span class="muted">{esc(kind)}</span>'
                          f'<input name="param:{esc(name)}" value="{esc(default)}"{step}></label>')
    disabled = "" if viewer.can_submit else " disabled"
    note = "" if viewer.can_submit else '<p class="muted">Read only: submitting needs the Pipelines.Submit role.</p>'
    return (f'<form class="submit-form" data-action="{esc(action)}" aria-labelledby="submit-title">'
            f'<h2 id="submit-title">Submit a run</h2>{note}<fieldset class="plain"{disabled}>'
            f'<label>Experiment <input name="experiment" required value="{esc(experiment)}" '
            'pattern="[A-Za-z0-9][A-Za-z0-9_\\-]{0,254}"></label>' + "".join(fields)
            + '<label>Description <input name="description"></label>'
            '<label class="check"><input type="checkbox" name="regenerate"> Regenerate outputs (reuse nothing)</label>'
            '<p class="form-error" role="alert" hidden></p>'
            '<div class="actions"><button type="submit">Submit</button></div></fieldset></form>')


def _recent_runs(services: Services, viewer: Viewer, pipeline: str) -> str:
    found = list_runs_page(services, pipeline=pipeline, per_page=10)
    rows = [[run_link(viewer, r["PartitionKey"], short_id(r["PartitionKey"])), esc(r.get("experiment")),
             badge(r.get("status")), fmt_time(r.get("created_time"), False), esc(r.get("run_source") or "")]
            for r in found.rows]
    more = (f'<p><a href="{href(viewer, f"{UI_PREFIX}/runs", pipeline=pipeline)}">All {found.total} runs</a></p>'
            if found.total > len(rows) else "")
    return '<h2>Recent runs</h2>' + table(["Run", "Experiment", "Status", "Created (UTC)", "Trigger"], rows,
                                          empty="No runs yet.") + more


def _schedules(services: Services, viewer: Viewer, request: ServiceRequest, **match: str) -> str:
    from pipeline_core.schedules.manage import schedule_store

    records = schedule_store(services).list(active_only=False, **match)
    rows = [[f'<a href="{href(viewer, f"{UI_PREFIX}/schedules/{seg(r.id)}")}">{esc(r.name)}</a>', badge(r.status),
             esc(schedule_entity(r, request.base).get("NextFireTime") or "-")] for r in records]
    return '<h2>Schedules</h2>' + table(["Schedule", "Status", "Next fire (UTC)"], rows, empty="No schedules.")


def _rest_section(url: str, parameters: dict[str, Any], viewer: Viewer) -> str:
    curl, python = snippets(url, parameters, viewer.auth_mode)
    return ('<h2>REST endpoint</h2>' + copy_block("URL (POST)", url, "rest-url")
            + copy_block("curl", curl, "snippet-curl") + copy_block("Python (as AML's REST sample)", python,
                                                                     "snippet-python"))


def _record_facts(record: PipelineRecord, entity: dict[str, Any]) -> str:
    return definition_list([("Id", f'<span class="mono">{esc(record.id)}</span>'), ("Version", esc(record.version)),
                            ("Status", badge(record.status)), ("Description", esc(record.description)),
                            ("Steps", esc(record.total_run_steps)), ("Graph", f'<span class="mono">'
                                                                             f'{esc(record.graph_id)}</span>'),
                            ("Continue on step failure", "yes" if record.continue_on_step_failure else "no"),
                            ("Published", fmt_time(record.created_time)),
                            ("Parameters", esc(", ".join(f"{n} ({p['Type']})" for n, p in entity["Parameters"].items()))
                             or "none")])


def pipeline_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/pipelines/{pipeline_id}."""
    record = pipeline_store(services).get(route_key(request, "published pipeline", "pipeline_id"))
    entity = pipeline_entity(record, request.base)
    title = f"{record.name} v{record.version}" if record.version else record.name
    action = f"/api/pipelines/{seg(record.id)}/runs"
    body = (f'<nav class="crumbs" aria-label="Breadcrumb"><a href="{href(viewer, f"{UI_PREFIX}/pipelines")}">'
            f'Pipelines</a></nav><div class="title-row"><h1>{esc(title)}</h1>{badge(record.status)}</div>'
            + _record_facts(record, entity)
            + '<div class="two-col"><div>' + submit_form(viewer, action, entity["Parameters"], record.name)
            + "</div><div>" + _rest_section(entity["Endpoint"], entity["Parameters"], viewer) + "</div></div>"
            + _recent_runs(services, viewer, record.id) + _schedules(services, viewer, request, pipeline_id=record.id))
    return html_response(page(viewer, title, body, active="pipelines", config={"page": "pipeline"}))


def endpoint_page(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """GET /api/ui/endpoints/{endpoint}[?version=]: versions, default, REST URL, a submit form for a version."""
    store = endpoint_store(services)
    record = store.resolve(route_key(request, "pipeline endpoint", "endpoint"))
    entity = endpoint_entity(record, store.versions(record.name), request.base)
    chosen = request.query_value("version") or record.default_version
    version = next((v for v in entity["Versions"] if v["Version"] == chosen), None) or next(
        (v for v in entity["Versions"] if v["Version"] == record.default_version), None)
    rows = [[f'<a href="{href(viewer, f"{UI_PREFIX}/endpoints/{seg(record.id)}", version=v["Version"])}">'
             f'v{esc(v["Version"])}</a>' + (' <span class="badge st-Finished">default</span>'
                                          if v["Version"] == record.default_version else ""),
             f'<a href="{_pipeline_href(viewer, v["PipelineId"])}" class="mono">{esc(short_id(v["PipelineId"], 13))}'
             "</a>", fmt_time(v["CreatedTime"], False)] for v in entity["Versions"]]
    form = ""
    if version is not None:
        pipeline = pipeline_entity(pipeline_store(services).get(version["PipelineId"]), request.base)
        query = "" if version["Version"] == record.default_version else f"?version={seg(version['Version'])}"
        form = (f'<p class="muted">The form runs version {esc(version["Version"])}'
                f'{" (the default)" if not query else ""}.</p>'
                + submit_form(viewer, f"/api/pipelineendpoints/{seg(record.id)}/runs{query}", pipeline["Parameters"],
                              record.name)
                + "</div><div>" + _rest_section(entity["Endpoint"] + query, pipeline["Parameters"], viewer))
    body = (f'<nav class="crumbs" aria-label="Breadcrumb"><a href="{href(viewer, f"{UI_PREFIX}/pipelines")}">'
            f'Pipelines</a></nav><div class="title-row"><h1>Endpoint {esc(record.name)}</h1>{badge(record.status)}</div>'
            + definition_list([("Id", f'<span class="mono">{esc(record.id)}</span>'),
                               ("Description", esc(record.description)),
                               ("Default version", esc(record.default_version)),
                               ("Updated", fmt_time(record.updated_time))])
            + "<h2>Versions</h2>" + table(["Version", "Published pipeline", "Added (UTC)"], rows)
            + f'<div class="two-col"><div>{form}</div></div>'
            + _recent_runs(services, viewer, record.id)
            + _schedules(services, viewer, request, pipeline_endpoint_id=record.id))
    return html_response(page(viewer, f"Endpoint {record.name}", body, active="pipelines",
                              config={"page": "endpoint"}))
