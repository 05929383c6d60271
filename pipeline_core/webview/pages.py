"""The page table: every URL of the web run view under ``/api/ui``, the role it needs, and what renders it.

``functions/run_view.py`` registers one HTTP function per entry, authenticates
with the entry's role exactly as the API does, and calls :func:`serve_page`.
Pages are not API routes, so they are not in the OpenAPI document; the JSON
they read is (``/api/runs/{id}/view`` and friends).

Refusals: a browser (``Accept: text/html``) gets the same code and message as
an HTML page; anything else gets the API's JSON error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pipeline_core.auth import ROLE_READ, ROLE_SUBMIT, Principal
from pipeline_core.engine.services import Services
from pipeline_core.rest.errors import ServiceError, from_exception
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.views.output_files import output_place, read_file, safe_relative_path
from pipeline_core.webview.html import STATIC_FILES, Viewer, error_page, static_text
from pipeline_core.webview.pages_pipelines import endpoint_page, pipeline_page, pipelines_page
from pipeline_core.webview.pages_runs import html_response, run_page, runs_page
from pipeline_core.webview.pages_schedules import schedule_page, schedules_page

log = logging.getLogger("amlite.webview")

PageHandler = Callable[[Services, ServiceRequest, Viewer], ServiceResponse]


@dataclass(frozen=True)
class Page:
    """``route`` is the Functions route template (the host adds ``api/``); ``role`` None = no sign-in needed."""

    route: str
    name: str
    role: str | None
    handler: PageHandler


def _home(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    target = "/api/ui/runs" + ("?" + urlencode({"code": viewer.key}) if viewer.key else "")
    return ServiceResponse(302, "", {"Location": target}, content_type="text/plain")


def _static(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """The page's CSS and scripts, from the package: public (no data in them), cached for a day (URLs carry a hash)."""
    name = request.route("name")
    if name not in STATIC_FILES:
        raise ServiceError(404, "NotFound", f"no static file {name[:80]!r}; the files are {', '.join(STATIC_FILES)}")
    return ServiceResponse(200, static_text(name), {"Cache-Control": "public, max-age=86400"},
                           content_type=f"{STATIC_FILES[name]}; charset=utf-8")


def _download(services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """One file of a step output, as an attachment."""
    run_id, step = route_key(request, "run", "run_id"), route_key(request, "step", "step")
    place = output_place(services, run_id, step, route_key(request, "output", "output"))
    path = safe_relative_path(request.query_value("path"))
    data = read_file(place, path)
    filename = path.rsplit("/", 1)[-1].replace('"', "")
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return ServiceResponse(200, data, {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}, content_type="application/octet-stream")


PAGES: tuple[Page, ...] = (
    Page("ui", "uiHome", ROLE_READ, _home),
    Page("ui/runs", "uiRuns", ROLE_READ, runs_page),
    Page("ui/runs/{run_id}", "uiRun", ROLE_READ, run_page),
    Page("ui/runs/{run_id}/steps/{step}/outputs/{output}/download", "uiDownloadOutput", ROLE_READ, _download),
    Page("ui/pipelines", "uiPipelines", ROLE_READ, pipelines_page),
    Page("ui/pipelines/{pipeline_id}", "uiPipeline", ROLE_READ, pipeline_page),
    Page("ui/endpoints/{endpoint}", "uiEndpoint", ROLE_READ, endpoint_page),
    Page("ui/schedules", "uiSchedules", ROLE_READ, schedules_page),
    Page("ui/schedules/{schedule_id}", "uiSchedule", ROLE_READ, schedule_page),
    Page("ui/static/{name}", "uiStatic", None, _static),
)


def viewer_for(principal: Principal | None, query: Mapping[str, str]) -> Viewer:
    """The viewer a page renders for; in ``key`` mode the ``code`` the browser came with is kept on its links."""
    if principal is None:
        return Viewer(name="anonymous", can_submit=False)
    key = next((v for k, v in query.items() if k.lower() == "code"), None) if principal.auth_mode == "key" else None
    return Viewer(name=principal.name, can_submit=principal.has_role(ROLE_SUBMIT), auth_mode=principal.auth_mode,
                  key=key or None)


def wants_html(headers: Mapping[str, str]) -> bool:
    accept = next((v for k, v in headers.items() if k.lower() == "accept"), "")
    return "text/html" in accept


def refusal(status: int, code: str, message: str, headers: Mapping[str, str], viewer: Viewer | None = None,
            extra_headers: dict[str, str] | None = None, details: list[Any] | None = None) -> ServiceResponse:
    """A refused page: HTML for a browser, the API's JSON error body otherwise."""
    if wants_html(headers):
        response = html_response(error_page(viewer, status, code, message), status)
        response.headers.update(extra_headers or {})
        return response
    return ServiceResponse(status, {"error": {"code": code, "message": message, "details": list(details or [])}},
                           dict(extra_headers or {}))


def serve_page(page: Page, services: Services, request: ServiceRequest, viewer: Viewer) -> ServiceResponse:
    """Render ``page``; a caller's mistake (unknown run, bad query) becomes its 4xx, only a real fault raises."""
    try:
        return page.handler(services, request, viewer)
    except Exception as exc:
        error = from_exception(exc)
        if error is None:
            log.exception("page %s failed", page.route)
            raise
        return refusal(error.status, error.code, error.message, request.headers, viewer, details=error.details)
