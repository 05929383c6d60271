"""Submitting a published pipeline (or a remote SDK's unpublished spec): checks, the idempotency claim,
the run rows, then ``launch_run``.

One path for ``PublishedPipeline.submit``, ``Experiment.submit(published)``,
``PipelineEndpoint.submit``, the HTTP submit routes and ``POST /api/runs``, so a
parameter refused over REST is refused the same way from Python.

Order matters for idempotency: everything a request can get wrong is checked
*before* the key is claimed (a bad request never burns a key), and the key is
claimed *before* the run is created (two concurrent retries create one run).
The claim is a short lease: a retry takes over a key whose claimer died (or
ran out of lease) before its run existed, instead of answering "busy".

The run row is written Queued, naming its owner (``host_id``) and the task hub
its orchestration starts in, because the start follows at once: no second write
before it. If the host dies before the start, a sweeping host
(``engine/orphans.py``, ``engine/stale_runs.py`` on Azure) finds a Queued run
with no orchestration and starts it; a retry with the same key then answers
that run as it really is.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline_core.application.errors import ConflictError
from pipeline_core.application.publishing import require_active
from pipeline_core.application.stores import idempotency_store
from pipeline_core.engine.launch import host_identity
from pipeline_core.engine.orphans import owner_is_gone
from pipeline_core.engine.services import Services
from pipeline_core.engine.submit import (
    ParameterError,
    check_experiment_name,
    coerce_parameters,
    create_run_row,
)
from pipeline_core.errors import NotFoundError
from pipeline_core.spec import PipelineSpec
from pipeline_core.storage.idempotency_store import IdempotencyEntry
from pipeline_core.storage.pipeline_store import PipelineRecord
from pipeline_core.storage.run_store import QUEUED

REPLAY_WAIT_SECONDS = 15.0


@dataclass
class SubmitOptions:
    """What a submit may set; ``notes`` are recorded on the run (e.g. AML fields that were ignored)."""

    experiment_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    datapaths: dict[str, Any] = field(default_factory=dict)
    #: REST DataSetDefinitionValueAssignments: parameter -> {"id"} or {"name", "version"} of a registered dataset
    datasets: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    tags: dict[str, str] | None = None
    run_source: str = "SDK"
    continue_on_step_failure: bool | None = None
    regenerate_outputs: bool = False
    notes: list[str] = field(default_factory=list)
    pipeline_endpoint_id: str | None = None
    submitted_by: str | None = None
    #: The Durable task hub the caller starts the created run in (when it starts the run itself), written
    #: on the run row as it is created.
    task_hub: str | None = None


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` within a ``scope`` (the pipeline or endpoint) and a fingerprint of the request."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class SubmitResult:
    run_id: str
    replayed: bool = False
    launched: bool = False
    #: The run row as created (with its etag), when this call created the run and did not launch it.
    row: dict[str, Any] | None = field(default=None, compare=False, repr=False)


def resolve_datasets(services: Services, options: SubmitOptions) -> None:
    """Registered datasets named for dataset parameters become their references among the parameters."""
    from pipeline_core.data.dataset_consumption_config import dataset_reference
    from pipeline_core.storage.dataset_store import DatasetStore

    store = DatasetStore(services.account)
    for name, wanted in options.datasets.items():
        row = store.by_id(wanted["id"]) if wanted.get("id") else None
        if row is None and wanted.get("name"):
            version = wanted.get("version")
            row = store.latest(wanted["name"]) if version in (None, "", "latest") else \
                store.get(wanted["name"], int(version)) if str(version).isdigit() else None
        if row is None:
            shown = wanted.get("id") or f"{wanted.get('name')} version {wanted.get('version') or 'latest'}"
            raise ParameterError(f"dataset parameter {name!r}: no registered dataset {shown}; register it first "
                                 "(dataset.register(workspace, name))", parameter=name)
        from pipeline_core.data.abstract_dataset import get_by_name

        options.parameters[name] = dataset_reference(get_by_name(services.workspace, row["name"], row["version"]))


def check_submit(services: Services, spec: PipelineSpec, options: SubmitOptions) -> None:
    """Raise for anything wrong with the request itself, before any state is written."""
    from pipeline_core.core.datastore import Datastore

    if options.datasets:
        resolve_datasets(services, options)

    check_experiment_name(options.experiment_name)
    values = coerce_parameters(spec, options.parameters, options.datapaths)
    for name, declared in spec.parameters.items():
        if declared["type"] != "datapath" or name not in {**options.parameters, **options.datapaths}:
            continue
        try:
            Datastore.get(services.workspace, values[name]["datastore"])
        except NotFoundError as exc:
            raise ParameterError(f"DataPath parameter {name!r}: {exc}", parameter=name) from None


def strict_parameters(environ: Mapping[str, str] | None = None) -> bool:
    """``AMLITE_STRICT_PARAMETERS=true``: this app refuses parameters a published pipeline does not declare."""
    value = (os.environ if environ is None else environ).get("AMLITE_STRICT_PARAMETERS", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def ignore_undeclared_parameters(spec: PipelineSpec, options: SubmitOptions) -> None:
    """AML v1 runs a published pipeline with ``ParameterAssignments`` it does not declare and ignores them;
    Data Factory callers and AML's batch-scoring tutorial rely on it. So does amlite, saying so in a note
    on the run (the response's ``Notes``), unless the app is strict."""
    if strict_parameters():
        return
    declared = ", ".join(sorted(spec.parameters)) or "none"
    for field_name, values in (("ParameterAssignments", options.parameters),
                               ("DataSetDefinitionValueAssignments", options.datasets)):
        ignored = sorted(n for n in values if n not in spec.parameters)
        if not ignored:
            continue
        for name in ignored:
            del values[name]
        options.notes.append(f"{field_name} {ignored} are not declared by this pipeline and were ignored "
                             f"(declared: {declared}); set AMLITE_STRICT_PARAMETERS=true to refuse them")


def submit_published(services: Services, record: PipelineRecord, options: SubmitOptions,
                     idempotency: Idempotency | None = None, launch: bool = True) -> SubmitResult:
    """Create a run of ``record`` and (``launch``) start it; with ``idempotency`` a repeated key returns the
    first run, which is never started a second time."""

    def active_spec() -> PipelineSpec:
        require_active(record)
        spec = services.load_spec(record.graph_id)
        ignore_undeclared_parameters(spec, options)
        return spec

    return _submit(services, active_spec, options, idempotency, launch, record)


def submit_spec(services: Services, spec: PipelineSpec, options: SubmitOptions,
                idempotency: Idempotency | None = None, launch: bool = True) -> SubmitResult:
    """Create a run of an unpublished ``spec`` (AML v1 submits the graph itself) and (``launch``) start it.

    The same checks, idempotency and run rows as :func:`submit_published`, so a
    pipeline submitted from a remote SDK behaves exactly like a local submit.
    """
    return _submit(services, lambda: spec, options, idempotency, launch, None)


def _submit(services: Services, load_spec: Callable[[], PipelineSpec], options: SubmitOptions,
            idempotency: Idempotency | None, launch: bool, record: PipelineRecord | None) -> SubmitResult:
    """``load_spec`` runs after the idempotency replay check: a replay answers even if the pipeline was
    disabled since, because the first request already succeeded."""
    from pipeline_core.engine.launch import LOCAL, launch_run, launcher_for, queued_fields

    if idempotency is not None:
        earlier = _earlier_run(services, idempotency)
        if earlier is not None:  # a retry of a request that already succeeded: answer it first, cheaply
            return SubmitResult(earlier, replayed=True)
    spec = load_spec()
    check_submit(services, spec, options)
    run_id = str(uuid.uuid4())
    if idempotency is not None:
        replay = _claim(services, idempotency, run_id)
        if replay is not None:
            return SubmitResult(replay, replayed=True)
    continue_on_failure = options.continue_on_step_failure
    if continue_on_failure is None and record is not None:
        continue_on_failure = record.continue_on_step_failure
    description = options.description
    if description is None and record is not None:
        description = record.description
    launcher = launcher_for(services, LOCAL) if launch else None
    # Created Queued, owner and hub said: the start that follows has no row to write first.
    extra: dict[str, Any] = queued_fields(launcher, options.task_hub)
    if options.pipeline_endpoint_id:
        extra["pipeline_endpoint_id"] = options.pipeline_endpoint_id
    if options.submitted_by:
        extra["submitted_by"] = options.submitted_by
    if idempotency is not None:
        extra["idempotency_key"] = idempotency.key
    if options.notes:
        extra["recorded"] = {"notes": list(options.notes)}
    try:
        row = create_run_row(services, spec, options.experiment_name, parameters=options.parameters,
                             datapaths=options.datapaths, regenerate_outputs=options.regenerate_outputs,
                             continue_on_step_failure=continue_on_failure, description=description,
                             tags=options.tags, run_source=options.run_source,
                             pipeline_id=record.id if record is not None else None, run_id=run_id,
                             extra_fields=extra, status=QUEUED)
    except BaseException:
        if idempotency is not None:
            idempotency_store(services).release(idempotency.scope, idempotency.key, run_id)
        raise
    if launcher is None:
        return SubmitResult(run_id, row=row)
    launch_run(services, run_id, launcher, created=row)
    return SubmitResult(run_id, launched=True)


def _earlier_run(services: Services, idempotency: Idempotency) -> str | None:
    """The run a live key already names, if it is the same request (one point read, no claim)."""
    existing = idempotency_store(services).get(idempotency.scope, idempotency.key)
    if existing is None or existing.expired():
        return None
    if existing.fingerprint != idempotency.fingerprint:
        raise _reused(idempotency, existing.run_id)
    return existing.run_id if _await_run(services, idempotency, existing) == _EXISTS else None


def _reused(idempotency: Idempotency, run_id: str) -> ConflictError:
    return ConflictError("IdempotencyKeyReused",
                         f"Idempotency-Key {idempotency.key!r} was already used within the last 24 hours for a "
                         f"different request (run {run_id}); use a new key for a new request")


def _busy(idempotency: Idempotency) -> ConflictError:
    return ConflictError("IdempotencyKeyBusy",
                         f"a request with Idempotency-Key {idempotency.key!r} is still being processed; "
                         "retry in a few seconds")


def _claim(services: Services, idempotency: Idempotency, run_id: str) -> str | None:
    """None when this request owns the key; else the run id a previous request with the key created."""
    store = idempotency_store(services)
    me = host_identity()
    for _ in range(3):
        existing = store.claim(idempotency.scope, idempotency.key, run_id, idempotency.fingerprint, owner=me)
        if existing is None:
            return None
        if existing.fingerprint != idempotency.fingerprint:
            raise _reused(idempotency, existing.run_id)
        outcome = _await_run(services, idempotency, existing)
        if outcome == _EXISTS:
            return existing.run_id
        if outcome == _ABANDONED and store.take_over(existing, run_id, idempotency.fingerprint, owner=me):
            return None
    raise _busy(idempotency)


_EXISTS, _RELEASED, _ABANDONED = "exists", "released", "abandoned"


def _abandoned_claim(entry: IdempotencyEntry) -> bool:
    """The claimer can no longer create its run: a process of this machine that is gone (one that lives
    keeps its claim however long its create takes), or, elsewhere, a claimer past its lease."""
    if entry.owner.split("/")[0] == socket.gethostname():
        return owner_is_gone(entry.owner)
    return entry.lease_expired()


def _await_run(services: Services, idempotency: Idempotency, entry: IdempotencyEntry) -> str:
    """Wait for the key owner's run to exist (``_EXISTS``); ``_RELEASED`` if the owner gave the key back (its
    create failed) or another request took it over, ``_ABANDONED`` if the claim is dead. Busy meanwhile."""
    store = idempotency_store(services)
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    delay = 0.02
    current: IdempotencyEntry | None = entry
    while time.monotonic() < deadline:
        try:
            services.runs.get_run(entry.run_id)
            return _EXISTS
        except NotFoundError:
            pass
        current = store.get(idempotency.scope, idempotency.key)
        if current is None or current.run_id != entry.run_id:
            return _RELEASED
        if _abandoned_claim(current):
            try:  # the claimer may have created the run just before it died
                services.runs.get_run(entry.run_id)
                return _EXISTS
            except NotFoundError:
                return _ABANDONED
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    raise _busy(idempotency)
