"""``LocalBackend``: a workspace worked on straight through its storage account and the application use cases.

Every call here is one of the use cases the REST API also serves (publishing,
submission, schedule management), so a local workspace follows the very rules a
remote one meets behind the Functions app. The use cases are imported in this
one module: when they move, this is the file to re-point.
"""

from __future__ import annotations

import builtins
import time
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from pipeline_core.application import publishing
from pipeline_core.application.stores import endpoint_store, pipeline_store
from pipeline_core.application.submission import SubmitOptions, submit_published, submit_spec
from pipeline_core.engine.activities import request_cancel
from pipeline_core.engine.services import Services, services_for
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.execution.logs import LOGS_CONTAINER, STD_LOG, step_log_blob_name
from pipeline_core.rest.links import aml_endpoint_submit_url, pipeline_submit_url
from pipeline_core.rest.request import normalize_base_url
from pipeline_core.rest.schedules.entities import decision_entity, schedule_entity
from pipeline_core.rest.schedules.handlers import fire_time_entries
from pipeline_core.runcontext.store_backend import StoreBackend
from pipeline_core.schedules import manage
from pipeline_core.schedules.firing import local_starter
from pipeline_core.storage.endpoint_store import EndpointRecord, EndpointView
from pipeline_core.storage.metric_store import MetricStore
from pipeline_core.storage.run_signals import SIGNALS

if TYPE_CHECKING:
    from pipeline_core.backend.port import ScheduleEntity, SubmitKeywords
    from pipeline_core.schedules.validation import ScheduleDefinition
    from pipeline_core.spec import PipelineSpec
    from pipeline_core.storage.pipeline_store import PipelineRecord
    from pipeline_core.storage.run_store import RunState

#: Where a local workspace's published pipelines say they can be POSTed to: the dev host's default address.
LOCAL_ENDPOINT = "http://127.0.0.1:7071"
#: How often a local follower polls Table storage; reads are cheap and local.
LOCAL_POLL_SECONDS = 0.1
#: How often it polls a run that this process writes: those writes wake it at once (``run_signals``),
#: so the poll is only for writes made elsewhere (a cancel from another shell, another host's activity).
LOCAL_QUIET_POLL_SECONDS = 1.0


class StoreRunSource:
    """A run read straight from the workspace's Table and Blob storage."""

    poll_seconds = LOCAL_POLL_SECONDS

    def __init__(self, services: Services, run_id: str):
        self.services = services
        self.run_id = run_id
        self._seen: int | None = None  # this process's change count of the run at the last get_state
        self._read_at = 0.0  # time.monotonic() of the last get_state

    def get_run(self) -> dict[str, Any]:
        self._seen = SIGNALS.version(self.run_id)  # a follower's read, as get_state's
        self._read_at = time.monotonic()
        return self.services.runs.get_run(self.run_id)

    def get_state(self) -> RunState:
        self._seen = SIGNALS.version(self.run_id)  # before the read: a write racing it wakes the next wait
        self._read_at = time.monotonic()
        return self.services.runs.get_state(self.run_id)

    def get_tags(self) -> dict[str, str]:
        """Tags given at submit, and those set since (e.g. by a step's ``run.parent.tag``)."""
        tags = dict(self.get_run().get("tags") or {})
        tags.update(StoreBackend(self.services).tags_and_properties(self.run_id)["tags"])
        return tags

    def wait_for_change(self, poll: float, limit: float) -> None:
        """For a run this process writes, sleep until its next write here (or the quiet poll); else ``poll``.

        Never returns sooner than ``poll`` after the last read: a burst of writes (a chain of short
        steps) is read once per interval, not once per write; the write that ends the run is read at once.
        """
        if self._seen is None:
            time.sleep(max(0.0, min(poll, limit)))
            return
        SIGNALS.wait(self.run_id, self._seen, min(max(poll, LOCAL_QUIET_POLL_SECONDS), limit))
        # The rest of the interval, cut short by the run's last write (read at once, not at the next interval:
        # a plain sleep here left every local run's end unnoticed for up to ``poll``).
        SIGNALS.wait_ended(self.run_id, max(0.0, min(self._read_at + poll - time.monotonic(), limit)))

    def wait_for_end(self, poll: float, limit: float) -> None:
        """For a run this process writes, sleep until its end (or the quiet poll, for writes made elsewhere):
        a silent follower has no use for the steps' writes, and a busy run (a 100-step fan-out) woke it
        for a read of the run row ten times a second. Else ``poll``, as :meth:`wait_for_change`."""
        if self._seen is None:
            time.sleep(max(0.0, min(poll, limit)))
            return
        SIGNALS.wait_ended(self.run_id, min(max(poll, LOCAL_QUIET_POLL_SECONDS), limit))

    def get_step(self, name: str) -> dict[str, Any]:
        return self.services.runs.get_step(self.run_id, name)

    def read_log(self, step: str, file: str = STD_LOG, offset: int = 0) -> tuple[bytes, int]:
        name = step_log_blob_name(self.services.runs.get_step(self.run_id, step), self.run_id, step, file)
        blob = self.services.account.container(LOGS_CONTAINER).get_blob_client(name)
        try:
            data = blob.download_blob(offset=offset or None).readall()
        except ResourceNotFoundError:
            data = b""
        except HttpResponseError as exc:  # 416: nothing past offset yet
            if exc.status_code != 416:
                raise
            data = b""
        return data, offset + len(data)

    def get_metrics(self, step: str | None = None) -> dict[str, dict[str, Any]]:
        return MetricStore(self.services.account).metrics(self.run_id, step)

    def cancel(self) -> None:
        request_cancel(self.services, self.run_id)


class LocalBackend:
    """The workspace's storage account (``storage``); runs started here run in this process's engine."""

    def __init__(self, storage: str, workspace: tuple[str, str, str] = ("local", "local", "local")):
        self.storage = storage
        self.workspace_ids = workspace
        self.api_base = normalize_base_url(LOCAL_ENDPOINT)

    def pipeline_submit_url(self, pipeline_id: str) -> str:
        return pipeline_submit_url(self.api_base, pipeline_id)

    def endpoint_submit_url(self, endpoint_id: str) -> str:
        return aml_endpoint_submit_url(self.api_base, endpoint_id, self.workspace_ids)

    @property
    def services(self) -> Services:
        """Looked up on use (one per storage account and process), so making a workspace opens nothing."""
        return services_for(self.storage)

    # -- published pipelines -------------------------------------------------------------
    def publish(self, spec: PipelineSpec, name: str, description: str | None, version: str | None,
                continue_on_step_failure: bool | None) -> PipelineRecord:
        return publishing.publish_spec(self.services, spec, name, description, version, continue_on_step_failure)

    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        return pipeline_store(self.services).get(pipeline_id)

    def list_pipelines(self, active_only: bool) -> builtins.list[PipelineRecord]:
        return pipeline_store(self.services).list(active_only=active_only)

    def set_pipeline_status(self, pipeline_id: str, enable: bool) -> str:
        return publishing.set_pipeline_status(self.services, pipeline_id, enable).status

    # -- pipeline endpoints --------------------------------------------------------------
    def _view(self, record: EndpointRecord) -> EndpointView:
        return EndpointView(record, endpoint_store(self.services).versions(record.name))

    def _endpoint(self, endpoint_id: str) -> EndpointRecord:
        return endpoint_store(self.services).get(endpoint_id)

    def create_endpoint(self, name: Any, description: Any, pipeline_id: str) -> EndpointView:
        return self._view(publishing.publish_endpoint(self.services, name, description, pipeline_id))

    def get_endpoint(self, id: str | None = None, name: str | None = None) -> EndpointView:
        if id:
            return self._view(self._endpoint(id))
        if name:
            return self._view(endpoint_store(self.services).get_by_name(name))
        raise AmliteError("PipelineEndpoint.get needs id= or name=")

    def list_endpoints(self, active_only: bool) -> builtins.list[EndpointView]:
        return [self._view(r) for r in endpoint_store(self.services).list(active_only=active_only)]

    def add_endpoint_version(self, endpoint_id: str, pipeline_id: str, make_default: bool) -> EndpointView:
        publishing.add_endpoint_version(self.services, self._endpoint(endpoint_id), pipeline_id, make_default)
        return self._view(self._endpoint(endpoint_id))

    def set_endpoint_default_version(self, endpoint_id: str, version: str) -> EndpointView:
        name = self._endpoint(endpoint_id).name
        return self._view(endpoint_store(self.services).set_default(name, str(version)))

    def set_endpoint_status(self, endpoint_id: str, enable: bool) -> EndpointView:
        return self._view(publishing.set_endpoint_status(self.services, self._endpoint(endpoint_id), enable))

    def rename_endpoint(self, endpoint_id: str, name: str) -> EndpointView:
        return self._view(publishing.rename_endpoint(self.services, self._endpoint(endpoint_id), name))

    def endpoint_pipeline(self, endpoint_id: str, version: str | None) -> PipelineRecord:
        return publishing.endpoint_pipeline(self.services, self._endpoint(endpoint_id), version)

    # -- runs ----------------------------------------------------------------------------
    def submit_spec(self, experiment_name: str, spec: PipelineSpec, tags: dict[str, str] | None,
                    keywords: SubmitKeywords) -> str:
        options = SubmitOptions(experiment_name=experiment_name,
                                parameters=dict(keywords.get("pipeline_parameters") or {}),
                                description=keywords.get("description"), tags=tags, run_source="SDK",
                                continue_on_step_failure=keywords.get("continue_on_step_failure"),
                                regenerate_outputs=bool(keywords.get("regenerate_outputs", False)))
        return submit_spec(self.services, spec, options).run_id

    def submit_published(self, experiment_name: str, pipeline_id: str, tags: dict[str, str] | None,
                         keywords: SubmitKeywords, endpoint_id: str | None = None) -> str:
        notes = []
        if keywords.get("parent_run_id"):
            notes.append(f"parent_run_id {keywords['parent_run_id']!r} was accepted and ignored: amlite runs have "
                         "no parent runs")
        options = SubmitOptions(experiment_name=experiment_name,
                                parameters=dict(keywords.get("pipeline_parameters") or {}),
                                description=keywords.get("description"), tags=tags, run_source="SDK",
                                continue_on_step_failure=keywords.get("continue_on_step_failure"),
                                regenerate_outputs=bool(keywords.get("regenerate_outputs", False)), notes=notes,
                                pipeline_endpoint_id=endpoint_id)
        return submit_published(self.services, self.get_pipeline(pipeline_id), options).run_id

    def submit_endpoint(self, experiment_name: str, endpoint_id: str, version: str | None,
                        tags: dict[str, str] | None, keywords: SubmitKeywords) -> str:
        endpoint = publishing.require_active_endpoint(self._endpoint(endpoint_id))
        pipeline = publishing.endpoint_pipeline(self.services, endpoint, version)
        return self.submit_published(experiment_name, pipeline.id, tags, keywords, endpoint_id=endpoint.id)

    def run_source(self, run_id: str) -> StoreRunSource:
        return StoreRunSource(self.services, run_id)

    def list_runs(self, experiment_name: str) -> builtins.list[str]:
        return [row["PartitionKey"] for row in self.services.runs.list_runs(experiment_name)]

    # -- schedules (answered in the REST API's JSON shape, so ``Schedule`` reads one shape) ------
    def _schedule(self, record: Any) -> ScheduleEntity:
        return schedule_entity(record, self.api_base)

    def create_schedule(self, definition: ScheduleDefinition) -> ScheduleEntity:
        """A recurrence without ``start_time`` fires its first run right away, in this process."""
        return self._schedule(manage.create_schedule(self.services, definition,
                                                     starter=local_starter(self.services)))

    def get_schedule(self, schedule_id: str) -> ScheduleEntity:
        return self._schedule(manage.schedule_store(self.services).get(schedule_id))

    def list_schedules(self, active_only: bool, pipeline_id: str | None,
                       pipeline_endpoint_id: str | None) -> builtins.list[ScheduleEntity]:
        records = manage.schedule_store(self.services).list(active_only, pipeline_id, pipeline_endpoint_id)
        return [self._schedule(r) for r in records]

    def update_schedule(self, schedule_id: str, changes: dict[str, Any], status: str | None) -> ScheduleEntity:
        return self._schedule(manage.update_schedule(self.services, schedule_id, changes, status=status))

    def set_schedule_status(self, schedule_id: str, enable: bool) -> ScheduleEntity:
        return self._schedule(manage.set_schedule_status(self.services, schedule_id, enable))

    def schedule_runs(self, schedule_id: str, top: int) -> builtins.list[tuple[str, str]]:
        manage.schedule_store(self.services).get(schedule_id)
        found = []
        for run_id in manage.fired_run_ids(self.services, schedule_id, top):
            try:
                found.append((run_id, str(self.services.runs.get_run(run_id)["experiment"])))
            except NotFoundError:
                continue
        return found

    def schedule_next(self, schedule_id: str, count: int) -> builtins.list[dict[str, str]]:
        return list(fire_time_entries(manage.schedule_store(self.services).get(schedule_id), count)["Value"])

    def schedule_history(self, schedule_id: str, top: int) -> builtins.list[ScheduleEntity]:
        return [decision_entity(d) for d in manage.history(self.services, schedule_id, top)]
