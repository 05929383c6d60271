"""``AmliteClient``: the amlite REST API as Python methods (one per route the SDK uses).

Bodies are the JSON of ARCHITECTURE.md §6 (PascalCase, as AML v1). Published
pipelines and endpoints come back as the records storage holds
(``client.records``), runs and schedules as the API's JSON; turning them into
SDK objects is the remote backend's business (``pipeline_core.backend.remote``),
which holds one client per workspace, so one connection pool and one token
cache serve all its runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pipeline_core.client.http import RestClient
from pipeline_core.client.records import endpoint_view, pipeline_record
from pipeline_core.storage.endpoint_store import EndpointView
from pipeline_core.storage.pipeline_store import PipelineRecord

Entity = dict[str, Any]


def _seg(value: str) -> str:
    return quote(value, safe="")


class AmliteClient(RestClient):
    """Typed calls; every error answer raises a ``RemoteError`` subclass (see ``client.errors``)."""

    # -- submit and publish ----------------------------------------------------------------
    def submit_spec(self, body: Entity) -> Entity:
        """``POST /api/runs``: an unpublished pipeline (body: submit fields + ``PipelineSpec``)."""
        return dict(self.post_json("/api/runs", body, idempotent=True))

    def submit_to(self, submit_url: str, body: Entity, version: str | None = None) -> Entity:
        """POST a submit body to a published pipeline's or endpoint's ``endpoint`` URL."""
        params = {"version": version} if version is not None else None
        return dict(self.post_json(submit_url, body, params, idempotent=True))

    def publish(self, body: Entity) -> PipelineRecord:
        """``POST /api/pipelines``: ``{Name, Description, Version, ContinueOnStepFailure, PipelineSpec}``."""
        return pipeline_record(self.post_json("/api/pipelines", body))

    # -- published pipelines ---------------------------------------------------------------
    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        return pipeline_record(self.get_json(f"/api/pipelines/{_seg(pipeline_id)}"))

    def list_pipelines(self, active_only: bool = True) -> list[PipelineRecord]:
        params = {"active_only": "true" if active_only else "false"}
        return [pipeline_record(e) for e in self.get_json("/api/pipelines", params).get("Value") or []]

    def set_pipeline_status(self, pipeline_id: str, enable: bool) -> PipelineRecord:
        """``POST /api/pipelines/{id}/enable|disable``; setting the status it already has is a no-op."""
        action = "enable" if enable else "disable"
        return pipeline_record(self.post_json(f"/api/pipelines/{_seg(pipeline_id)}/{action}", repeatable=True))

    # -- pipeline endpoints ----------------------------------------------------------------
    def create_endpoint(self, name: str, description: str | None, pipeline_id: str) -> EndpointView:
        """``POST /api/pipelineendpoints``. Not retried on a dropped connection: a second create of the same
        name would answer 409 NameTaken even though the first one succeeded."""
        body: Entity = {"Name": name, "PipelineId": pipeline_id}
        if description is not None:
            body["Description"] = description
        return endpoint_view(self.post_json("/api/pipelineendpoints", body))

    def get_endpoint(self, endpoint: str, by: str | None = None) -> EndpointView:
        """By id or name; ``by`` ("id" or "name") pins which, so a name is never mistaken for an id."""
        return endpoint_view(self.get_json(f"/api/pipelineendpoints/{_seg(endpoint)}", {"by": by} if by else None))

    def list_endpoints(self, active_only: bool = True) -> list[EndpointView]:
        params = {"active_only": "true" if active_only else "false"}
        return [endpoint_view(e) for e in self.get_json("/api/pipelineendpoints", params).get("Value") or []]

    def add_endpoint_version(self, endpoint: str, pipeline_id: str, set_as_default: bool = False) -> EndpointView:
        """The server gives a pipeline already on the endpoint its existing version, so a retry adds nothing."""
        body = {"PipelineId": pipeline_id, "SetAsDefault": set_as_default}
        return endpoint_view(self.post_json(f"/api/pipelineendpoints/{_seg(endpoint)}/versions", body,
                                            repeatable=True))

    def set_endpoint_default_version(self, endpoint: str, version: str) -> EndpointView:
        return endpoint_view(self.post_json(f"/api/pipelineendpoints/{_seg(endpoint)}/defaultversion",
                                   {"Version": str(version)}, repeatable=True))

    def rename_endpoint(self, endpoint: str, name: str) -> EndpointView:
        return endpoint_view(self.post_json(f"/api/pipelineendpoints/{_seg(endpoint)}/name", {"Name": name},
                                            repeatable=True))

    def set_endpoint_status(self, endpoint: str, enable: bool) -> EndpointView:
        action = "enable" if enable else "disable"
        return endpoint_view(self.post_json(f"/api/pipelineendpoints/{_seg(endpoint)}/{action}", repeatable=True))

    # -- runs ------------------------------------------------------------------------------
    def get_run(self, run_id: str, steps: bool = False, metrics: bool = False) -> Entity:
        params = {**({"steps": "true"} if steps else {}), **({"metrics": "true"} if metrics else {})}
        return dict(self.get_json(f"/api/runs/{_seg(run_id)}", params or None))

    def list_steps(self, run_id: str, metrics: bool = False) -> list[Entity]:
        params = {"metrics": "true"} if metrics else None
        return list(self.get_json(f"/api/runs/{_seg(run_id)}/steps", params).get("Value") or [])

    def step_log(self, run_id: str, step: str, file: str | None = None, offset: int = 0) -> tuple[bytes, int]:
        """One page of log bytes from ``offset`` and the offset to continue from (``X-Log-Offset``)."""
        data, next_offset, _ = self.step_log_page(run_id, step, file, offset)
        return data, next_offset

    def step_log_page(self, run_id: str, step: str, file: str | None = None,
                      offset: int = 0) -> tuple[bytes, int, int]:
        """``(bytes, next offset, log size when read)``: the server answers at most 1 MiB per request."""
        params: dict[str, Any] = {"offset": offset} if offset else {}
        if file:
            params["file"] = file
        response = self.request("GET", f"/api/runs/{_seg(run_id)}/steps/{_seg(step)}/logs", params=params)
        data = response.content
        next_offset = _int_header(response.headers.get("X-Log-Offset"), offset + len(data))
        return data, next_offset, _int_header(response.headers.get("X-Log-Size"), next_offset)

    def cancel(self, run_id: str) -> Entity:
        return dict(self.post_json(f"/api/runs/{_seg(run_id)}/cancel"))

    def list_experiment_runs(self, experiment: str, top: int = 50) -> list[Entity]:
        return list(self.get_json(f"/api/experiments/{_seg(experiment)}/runs", {"top": top}).get("Value") or [])

    # -- schedules (answered as the API's JSON: ``Schedule`` is built from that shape on both sides) ------
    def schedule_call(self, method: str, path: str = "", body: Entity | None = None,
                      params: dict[str, Any] | None = None) -> Any:
        """One request under ``/api/schedules`` (``path``: ``/{id}[/tail]``, already quoted); its JSON answer."""
        return self.request(method, f"/api/schedules{path}", json=body, params=params).json()


def _int_header(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default
