"""The web run view: one HTTP function per page of ``pipeline_core.webview.pages``, nothing more.

Authentication is the API's (``AMLITE_AUTH``, the page's role); the page
learns only who is looking and whether they may submit. Rendering and data
live in ``pipeline_core.webview``.
"""

from __future__ import annotations

import asyncio

import azure.functions as func

from functions.http_adapter import to_http, to_service
from pipeline_core.auth import AuthError, authenticate
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.webview.pages import PAGES, Page, refusal, serve_page, viewer_for

bp = func.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)


async def _serve(page: Page, req: func.HttpRequest) -> func.HttpResponse:
    headers, query = dict(req.headers), dict(req.params)
    principal = None
    if page.role is not None:
        try:
            principal = await asyncio.to_thread(authenticate, headers, query, page.role)
        except AuthError as exc:
            return to_http(refusal(exc.status, exc.code, exc.message, headers, extra_headers=exc.headers()))
    request = to_service(req, principal.id if principal else None)
    services = services_for(storage_from_environment())
    return to_http(await asyncio.to_thread(serve_page, page, services, request, viewer_for(principal, query)))


def _register(page: Page) -> None:
    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        return await _serve(page, req)

    handler.__name__ = page.name
    decorated = bp.route(route=page.route, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(handler)
    bp.function_name(page.name)(decorated)


for _page in PAGES:
    _register(_page)
