"""``RemoteBackend``: a workspace served by an amlite Functions app, reached through the REST client.

Why over REST and not straight to the storage account: the usual AML v1 CI job
holds the Functions app URL and an Entra token, not the storage account's keys,
and the app is where the rules live (a pipeline with active schedules cannot be
disabled, endpoint names are unique). The one storage write is the snapshots:
they go to the workspace's storage first (content-addressed, as AML v1 uploads
snapshots to the workspace's storage account), then the spec travels in the
request and the server checks every snapshot is there. So publishing or
submitting a new pipeline needs both the app URL and the storage account the
app uses (config.json ``endpoint`` + ``storage``, or ``AMLITE_ENDPOINT`` +
``AMLITE_STORAGE``); managing and following what exists needs only the URL.

Submit URLs are made from the workspace's own endpoint rather than taken from
the answers: the app names itself by the host it was reached under, which
behind a proxy or Front Door is not the URL this workspace uses.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipeline_core.application.publishing import check_name, check_text
from pipeline_core.client.api import AmliteClient, Entity
from pipeline_core.client.auth import header_provider
from pipeline_core.client.bodies import spec_document, submit_body
from pipeline_core.client.errors import RemoteError
from pipeline_core.client.http import is_loopback
from pipeline_core.client.runs import RestRunSource
from pipeline_core.engine.services import services_for
from pipeline_core.engine.submit import upload_spec_and_snapshots
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.rest.links import aml_endpoint_submit_url, pipeline_submit_url
from pipeline_core.rest.request import normalize_base_url
from pipeline_core.rest.schedules.body import ATTR_FIELDS
from pipeline_core.rest.schedules.entities import recurrence_entity
from pipeline_core.schedules.validation import ScheduleValidationError
from pipeline_core.storage.account import get_account
from pipeline_core.storage.endpoint_store import EndpointView

if TYPE_CHECKING:
    from pipeline_core.backend.port import ScheduleEntity, SubmitKeywords
    from pipeline_core.schedules.validation import ScheduleDefinition
    from pipeline_core.spec import PipelineSpec
    from pipeline_core.storage.pipeline_store import PipelineRecord


def _schedule_body(values: dict[str, Any]) -> Entity:
    """ScheduleDefinition attributes -> the REST body's PascalCase fields (None left out)."""
    body: Entity = {}
    for attr, value in values.items():
        if value is None:
            continue
        if attr == "recurrence":
            value = recurrence_entity(value.to_dict())
        body[ATTR_FIELDS[attr]] = value
    return body


def _schedule_path(schedule_id: str, tail: str = "") -> str:
    return f"/{quote(schedule_id, safe='')}{tail}"


class RemoteBackend:
    """Every call one REST request (or a few) to ``endpoint``; ``storage`` only receives snapshots.

    ``auth`` gives the object requests are signed with (or None); it is asked
    once, on the first request, since it may read a secret from the environment.
    """

    def __init__(self, endpoint: str, storage: str, auth: Callable[[], Any],
                 workspace: tuple[str, str, str] = ("local", "local", "local")):
        self.endpoint = endpoint
        self.workspace_ids = workspace
        self.storage = storage
        self.api_base = normalize_base_url(endpoint)
        self._auth = auth

    def pipeline_submit_url(self, pipeline_id: str) -> str:
        return pipeline_submit_url(self.api_base, pipeline_id)

    def endpoint_submit_url(self, endpoint_id: str) -> str:
        return aml_endpoint_submit_url(self.api_base, endpoint_id, self.workspace_ids)

    @cached_property
    def client(self) -> AmliteClient:
        """One per backend, so one connection pool and one token cache serve all the workspace's runs."""
        return AmliteClient(self.endpoint, header_provider(self._auth()))

    def upload_snapshots(self, spec: PipelineSpec) -> None:
        """Put the spec's snapshots (and spec blob) in the workspace storage the Functions app reads."""
        if get_account(self.storage).is_local and not is_loopback(self.endpoint):
            raise AmliteError(
                f"workspace endpoint {self.endpoint!r} is a remote Functions app, but the workspace storage is the "
                "local emulator, so the app could not read the step snapshots. Set 'storage' in config.json (or "
                "AMLITE_STORAGE) to the app's storage account: a connection string or https://<account>.blob.core."
                "windows.net")
        upload_spec_and_snapshots(services_for(self.storage), spec)

    # -- published pipelines -------------------------------------------------------------
    def publish(self, spec: PipelineSpec, name: str, description: str | None, version: str | None,
                continue_on_step_failure: bool | None) -> PipelineRecord:
        """Upload snapshots, then ``POST /api/pipelines`` with the spec."""
        self.upload_snapshots(spec)
        body: Entity = {"Name": name, "PipelineSpec": spec_document(spec)}
        optional = {"Description": description, "Version": None if version is None else str(version),
                    "ContinueOnStepFailure": continue_on_step_failure}
        body.update({key: value for key, value in optional.items() if value is not None})
        return self.client.publish(body)

    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        return self.client.get_pipeline(pipeline_id)

    def list_pipelines(self, active_only: bool) -> builtins.list[PipelineRecord]:
        return self.client.list_pipelines(active_only)

    def set_pipeline_status(self, pipeline_id: str, enable: bool) -> str:
        return self.client.set_pipeline_status(pipeline_id, enable).status

    # -- pipeline endpoints --------------------------------------------------------------
    def create_endpoint(self, name: Any, description: Any, pipeline_id: str) -> EndpointView:
        """Name and description are checked here with the local checks first, so a bad one fails before any
        request with the message a local workspace gives (the server checks them again)."""
        name = check_name(name, "pipeline endpoint name")
        text = check_text(description, "description")
        return self.client.create_endpoint(name, text, pipeline_id)

    def get_endpoint(self, id: str | None = None, name: str | None = None) -> EndpointView:
        if id:
            return self.client.get_endpoint(id, by="id")
        if name:
            return self.client.get_endpoint(name, by="name")
        raise AmliteError("PipelineEndpoint.get needs id= or name=")

    def list_endpoints(self, active_only: bool) -> builtins.list[EndpointView]:
        return self.client.list_endpoints(active_only)

    def add_endpoint_version(self, endpoint_id: str, pipeline_id: str, make_default: bool) -> EndpointView:
        return self.client.add_endpoint_version(endpoint_id, pipeline_id, make_default)

    def set_endpoint_default_version(self, endpoint_id: str, version: str) -> EndpointView:
        return self.client.set_endpoint_default_version(endpoint_id, str(version))

    def set_endpoint_status(self, endpoint_id: str, enable: bool) -> EndpointView:
        return self.client.set_endpoint_status(endpoint_id, enable)

    def rename_endpoint(self, endpoint_id: str, name: str) -> EndpointView:
        return self.client.rename_endpoint(endpoint_id, check_name(name, "pipeline endpoint name"))

    def endpoint_pipeline(self, endpoint_id: str, version: str | None) -> PipelineRecord:
        """The endpoint's current versions, then that version's pipeline (read fresh, so another client's new
        default is seen, as the local path sees it)."""
        view = self.get_endpoint(id=endpoint_id)
        wanted = str(version) if version is not None else view.record.default_version
        for entry in view.versions:
            if entry.version == wanted:
                return self.get_pipeline(entry.pipeline_id)
        listed = ", ".join(v.version for v in view.versions) or "none"
        raise NotFoundError(f"pipeline endpoint {view.record.name!r} has no version {wanted!r}; its versions: "
                            f"{listed}")

    # -- runs ----------------------------------------------------------------------------
    def submit_spec(self, experiment_name: str, spec: PipelineSpec, tags: dict[str, str] | None,
                    keywords: SubmitKeywords) -> str:
        """Upload snapshots, then ``POST /api/runs`` with the spec (AML v1 sends the graph with the submit)."""
        self.upload_snapshots(spec)
        body = submit_body(experiment_name, keywords, tags)
        body["PipelineSpec"] = spec_document(spec)
        return str(self.client.submit_spec(body)["Id"])

    def submit_published(self, experiment_name: str, pipeline_id: str, tags: dict[str, str] | None,
                         keywords: SubmitKeywords) -> str:
        """POST to the pipeline's submit URL, as a REST caller of AML v1 does."""
        url = self.pipeline_submit_url(pipeline_id)
        return str(self.client.submit_to(url, submit_body(experiment_name, keywords, tags))["Id"])

    def submit_endpoint(self, experiment_name: str, endpoint_id: str, version: str | None,
                        tags: dict[str, str] | None, keywords: SubmitKeywords) -> str:
        """POST to the endpoint's submit URL; the server picks the version."""
        url = self.endpoint_submit_url(endpoint_id)
        return str(self.client.submit_to(url, submit_body(experiment_name, keywords, tags), version)["Id"])

    def run_source(self, run_id: str) -> RestRunSource:
        return RestRunSource(self.client, run_id)

    def list_runs(self, experiment_name: str) -> builtins.list[str]:
        return [str(entity["Id"]) for entity in self.client.list_experiment_runs(experiment_name)]

    # -- schedules -----------------------------------------------------------------------
    def _schedules(self, method: str, path: str = "", body: Entity | None = None,
                   params: dict[str, Any] | None = None) -> Any:
        """A refused schedule raises the local ``ScheduleValidationError`` (a ``ValueError``), as locally."""
        try:
            return self.client.schedule_call(method, path, body, params)
        except RemoteError as exc:
            if exc.code == "InvalidSchedule":
                target = next((str(d.get("target")) for d in exc.details if isinstance(d, dict)), "schedule")
                raise ScheduleValidationError(target, exc.message.removeprefix("Schedule: ")) from None
            raise

    def create_schedule(self, definition: ScheduleDefinition) -> ScheduleEntity:
        return dict(self._schedules("POST", body=_schedule_body(dict(definition.__dict__))))

    def get_schedule(self, schedule_id: str) -> ScheduleEntity:
        return dict(self._schedules("GET", _schedule_path(schedule_id)))

    def list_schedules(self, active_only: bool, pipeline_id: str | None,
                       pipeline_endpoint_id: str | None) -> builtins.list[ScheduleEntity]:
        params = {"active_only": str(active_only).lower(), "pipeline_id": pipeline_id,
                  "pipeline_endpoint_id": pipeline_endpoint_id}
        answer = self._schedules("GET", params={k: v for k, v in params.items() if v is not None})
        return list(answer.get("Value") or [])

    def update_schedule(self, schedule_id: str, changes: dict[str, Any], status: str | None) -> ScheduleEntity:
        body = _schedule_body(changes)
        if status is not None:
            body["Status"] = status
        return dict(self._schedules("PATCH", _schedule_path(schedule_id), body))

    def set_schedule_status(self, schedule_id: str, enable: bool) -> ScheduleEntity:
        return dict(self._schedules("POST", _schedule_path(schedule_id, "/enable" if enable else "/disable")))

    def schedule_runs(self, schedule_id: str, top: int) -> builtins.list[tuple[str, str]]:
        answer = self._schedules("GET", _schedule_path(schedule_id, "/runs"), params={"top": top})
        return [(str(e["Id"]), str(e["ExperimentName"])) for e in answer.get("Value") or []]

    def schedule_next(self, schedule_id: str, count: int) -> builtins.list[dict[str, str]]:
        answer = self._schedules("GET", _schedule_path(schedule_id, "/next"), params={"count": count})
        return list(answer.get("Value") or [])

    def schedule_history(self, schedule_id: str, top: int) -> builtins.list[ScheduleEntity]:
        answer = self._schedules("GET", _schedule_path(schedule_id, "/history"), params={"top": top})
        return list(answer.get("Value") or [])
