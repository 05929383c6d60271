"""The URLs answers link to (``Location``, ``Url``, ``Endpoint``, ``RunUrl``, ``LogUrl``), from the public base URL.

One place for every resource's link, so a route path and the links to it are
changed together; each route value is percent-encoded as one path segment.
"""

from __future__ import annotations

from urllib.parse import quote


def _seg(value: str) -> str:
    return quote(value, safe="")


def run_url(base: str, run_id: str) -> str:
    return f"{base}/api/runs/{_seg(run_id)}"


def step_log_url(base: str, run_id: str, step: str) -> str:
    return f"{run_url(base, run_id)}/steps/{_seg(step)}/logs"


def pipeline_url(base: str, pipeline_id: str) -> str:
    return f"{base}/api/pipelines/{_seg(pipeline_id)}"


def pipeline_submit_url(base: str, pipeline_id: str) -> str:
    return f"{pipeline_url(base, pipeline_id)}/runs"


def endpoint_url(base: str, endpoint_id: str) -> str:
    return f"{base}/api/pipelineendpoints/{_seg(endpoint_id)}"


def endpoint_submit_url(base: str, endpoint_id: str) -> str:
    return f"{endpoint_url(base, endpoint_id)}/runs"


def aml_endpoint_submit_url(base: str, endpoint_id: str, workspace: tuple[str, str, str]) -> str:
    """AML's URL of a pipeline endpoint (``PipelineEndpoint.endpoint``): ``.../PipelineEndpointSubmit/Id/{id}``.

    Samples build the by-name URL from it (``...PipelineEndpointSubmit/Name?name=``); the app serves both.
    ``workspace`` = (subscription id, resource group, workspace name), as the caller's workspace says.
    """
    subscription, group, name = (_seg(part) for part in workspace)
    return (f"{base}/api/pipelines/v1.0/subscriptions/{subscription}/resourceGroups/{group}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{name}/PipelineRuns/PipelineEndpointSubmit/Id/"
            f"{_seg(endpoint_id)}")


def schedule_url(base: str, schedule_id: str) -> str:
    return f"{base}/api/schedules/{_seg(schedule_id)}"
