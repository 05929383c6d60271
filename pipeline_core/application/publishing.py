"""Publishing a spec, enabling/disabling it, and versioning it under endpoints.

Shared by the SDK (``Pipeline.publish``, ``PipelineEndpoint``) and the HTTP
service so both paths store exactly the same records and refuse the same things.
"""

from __future__ import annotations

import uuid
from typing import Any

from pipeline_core.application.errors import ConflictError
from pipeline_core.application.schedule_refs import active_schedules_for, active_schedules_for_endpoint
from pipeline_core.application.stores import endpoint_store, pipeline_store
from pipeline_core.engine.services import Services
from pipeline_core.engine.submit import upload_spec_and_snapshots
from pipeline_core.errors import AmliteError
from pipeline_core.execution.snapshot import SNAPSHOT_CONTAINER, uploaded_files
from pipeline_core.spec import PipelineSpec
from pipeline_core.storage.endpoint_store import EndpointRecord, EndpointVersion
from pipeline_core.storage.pipeline_store import ACTIVE, DISABLED, PipelineRecord
from pipeline_core.validation import DataCheck, SnapshotFiles

MAX_NAME = 255
_FORBIDDEN_IN_KEYS = "/\\#?"


def check_name(value: Any, what: str) -> str:
    """Names become Table keys: non-empty, at most 255 characters, none of ``/ \\ # ?`` or control characters."""
    if not isinstance(value, str) or not value.strip():
        raise AmliteError(f"{what} is required: a non-empty string of at most {MAX_NAME} characters")
    bad = [ch for ch in value if ch in _FORBIDDEN_IN_KEYS or ord(ch) < 32 or 127 <= ord(ch) < 160]
    if len(value) > MAX_NAME or bad:
        raise AmliteError(f"{what} {value!r} is invalid: use at most {MAX_NAME} characters and none of "
                          "/ \\ # ? or control characters")
    return value


def check_text(value: Any, what: str, max_length: int = 4096) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise AmliteError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > max_length:
        raise AmliteError(f"{what} is {len(value)} characters; the limit is {max_length}")
    return value


def data_check(services: Services) -> DataCheck:
    """The datastore/path check ``validate_spec`` runs, against the service's storage account."""

    def check(datastore: str, path: str | None) -> str | None:
        from pipeline_core.core.datastore import check_data_path

        return check_data_path(services.workspace, datastore, path)

    return check


def snapshot_files(services: Services) -> SnapshotFiles:
    """The files of an uploaded snapshot, so ``validate_spec`` checks ``script_name`` against what will run."""
    container = services.account.container(SNAPSHOT_CONTAINER)
    return lambda snapshot_hash: uploaded_files(container, snapshot_hash)


def missing_snapshots(services: Services, spec: PipelineSpec) -> list[str]:
    """A problem per step whose snapshot blob is not uploaded (an HTTP publish never carries source code)."""
    container = services.account.container(SNAPSHOT_CONTAINER)
    problems = []
    for step in spec.steps:
        snapshot = step.get("snapshot")
        if snapshot and not container.get_blob_client(f"{snapshot}.zip").exists():
            problems.append(f"step {step['name']!r}: its snapshot {snapshot}.zip is not in the "
                            f"'{SNAPSHOT_CONTAINER}' container; upload the snapshot first (Pipeline.publish "
                            "from the SDK does both) and publish again")
    return problems


def publish_spec(services: Services, spec: PipelineSpec, name: Any, description: Any = None, version: Any = None,
                 continue_on_step_failure: bool | None = None) -> PipelineRecord:
    """Store snapshots and spec (content-addressed, idempotent), then a new Active published pipeline."""
    name = check_name(name, "published pipeline name")
    description = check_text(description, "description") or spec.doc.get("description") or ""
    version = check_text(version, "version", MAX_NAME)
    if continue_on_step_failure is None:
        continue_on_step_failure = bool(spec.doc.get("continue_on_step_failure", False))
    upload_spec_and_snapshots(services, spec)
    record = PipelineRecord(id=str(uuid.uuid4()), name=name, graph_id=spec.graph_id, description=description,
                            version=version, status=ACTIVE, continue_on_step_failure=bool(continue_on_step_failure),
                            total_run_steps=len(spec.steps), parameters=spec.parameters)
    return pipeline_store(services).create(record)


def set_pipeline_status(services: Services, pipeline_id: str, enable: bool) -> PipelineRecord:
    """Enable or disable; disabling is refused while an active schedule would keep firing it."""
    store = pipeline_store(services)
    record = store.get(pipeline_id)
    if not enable:
        schedules = active_schedules_for(services, record.id)
        if schedules:
            raise ConflictError("PipelineHasActiveSchedules",
                                f"published pipeline {record.id!r} ({record.name!r}) is submitted by active "
                                f"schedule(s) {', '.join(schedules)}; disable them first "
                                "(Schedule.get(ws, id).disable()) and then disable the pipeline")
    return store.set_status(record.id, ACTIVE if enable else DISABLED)


def require_active(record: PipelineRecord) -> PipelineRecord:
    if not record.is_active:
        raise ConflictError("PipelineDisabled",
                            f"published pipeline {record.id!r} ({record.name!r}) is Disabled and takes no runs; "
                            "enable it (PublishedPipeline.enable() or POST /api/pipelines/{id}/enable) first")
    return record


# -- endpoints ---------------------------------------------------------------------------
def publish_endpoint(services: Services, name: Any, description: Any, pipeline_id: str) -> EndpointRecord:
    name = check_name(name, "pipeline endpoint name")
    description = check_text(description, "description")
    pipeline_store(services).get(pipeline_id)
    return endpoint_store(services).create(name, description, pipeline_id)


def add_endpoint_version(services: Services, endpoint: EndpointRecord, pipeline_id: str,
                         make_default: bool) -> EndpointVersion:
    pipeline_store(services).get(pipeline_id)
    return endpoint_store(services).add_version(endpoint.name, pipeline_id, make_default)


def set_endpoint_status(services: Services, endpoint: EndpointRecord, enable: bool) -> EndpointRecord:
    if not enable:
        schedules = active_schedules_for_endpoint(services, endpoint.id)
        if schedules:
            raise ConflictError("EndpointHasActiveSchedules",
                                f"pipeline endpoint {endpoint.name!r} is submitted by active schedule(s) "
                                f"{', '.join(schedules)}; disable them first")
    return endpoint_store(services).set_status(endpoint.name, ACTIVE if enable else DISABLED)


def rename_endpoint(services: Services, endpoint: EndpointRecord, name: Any) -> EndpointRecord:
    """AML's ``set_name``: the same endpoint (id, versions, status) under a new name; a taken name is refused."""
    return endpoint_store(services).rename(endpoint.id, check_name(name, "pipeline endpoint name"))


def endpoint_pipeline(services: Services, endpoint: EndpointRecord, version: str | None = None) -> PipelineRecord:
    """The published pipeline behind ``version`` (default: the endpoint's default version)."""
    entry = endpoint_store(services).version(endpoint.name, str(version) if version is not None
                                             else endpoint.default_version)
    return pipeline_store(services).get(entry.pipeline_id)


def require_active_endpoint(endpoint: EndpointRecord) -> EndpointRecord:
    if not endpoint.is_active:
        raise ConflictError("EndpointDisabled",
                            f"pipeline endpoint {endpoint.name!r} is Disabled and takes no runs; enable it "
                            "(PipelineEndpoint.enable()) first")
    return endpoint
