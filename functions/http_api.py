"""The REST API: one HTTP function per route of pipeline_core's route table, nothing more.

Native routes and AML v1 aliases both come from ``pipeline_core.rest.routes``,
so this file, the OpenAPI document and the handlers cannot drift apart.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.http_adapter import serve
from pipeline_core.rest.routes import ROUTES
from pipeline_core.rest.routing import Route

bp = df.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)


def _register(route: Route) -> None:
    async def handler(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await serve(route, req, client)

    handler.__name__ = route.operation_id
    decorated = bp.durable_client_input(client_name="client")(handler)
    decorated = bp.route(route=route.function_route, methods=[route.method],
                         auth_level=func.AuthLevel.ANONYMOUS)(decorated)
    bp.function_name(route.operation_id)(decorated)


for _route in ROUTES:
    _register(_route)
