"""Route handlers for runs: submit (to a pipeline or an endpoint), read, steps, logs, cancel, list."""

from __future__ import annotations

import re
from collections.abc import Callable

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from pipeline_core.application.names import is_key_safe
from pipeline_core.application.publishing import endpoint_pipeline, require_active_endpoint
from pipeline_core.application.stores import endpoint_store, pipeline_store
from pipeline_core.application.submission import Idempotency, SubmitOptions, SubmitResult, submit_published
from pipeline_core.engine.services import Services
from pipeline_core.engine.submit import check_experiment_name
from pipeline_core.errors import AmliteError
from pipeline_core.execution.logs import (
    DRIVER_LOG,
    LOGS_CONTAINER,
    STD_LOG,
    STDERR_LOG,
    STDOUT_LOG,
    step_log_blob_name,
)
from pipeline_core.rest.body import query_bool, query_int
from pipeline_core.rest.errors import ServiceError, bad_request, from_exception
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.links import run_url
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.runs.body import fingerprint, parse_submit_body
from pipeline_core.rest.runs.entities import run_entity, step_entity
from pipeline_core.storage.endpoint_store import EndpointRecord
from pipeline_core.storage.metric_store import MetricStore
from pipeline_core.storage.pipeline_store import PipelineRecord
from pipeline_core.storage.run_store import CANCELED, FAILED, FINISHED

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
LOG_FILES = (STD_LOG, STDOUT_LOG, STDERR_LOG, DRIVER_LOG)
#: The most log bytes one answer of the step-log route carries (1 MiB).
LOG_PAGE_BYTES = 1024 * 1024
_CONTENT_RANGE_TOTAL = re.compile(r"/(\d+)\s*$")


def request_idempotency(request: ServiceRequest, scope: str, options: SubmitOptions,
                        extra: dict[str, object]) -> Idempotency | None:
    """The request's ``Idempotency-Key`` within ``scope``, or None when it sent none."""
    key = request.header(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise bad_request(f"the {IDEMPOTENCY_HEADER} header must be 1-{MAX_IDEMPOTENCY_KEY} printable "
                          "characters (a UUID is a good key)", IDEMPOTENCY_HEADER, "InvalidHeader")
    return Idempotency(scope, key, fingerprint(options, extra))


def submit_field(name: str, options: SubmitOptions) -> str:
    """The body field a submit error's ``parameter`` names: a pipeline parameter is sent in one of two maps."""
    if name == "experiment_name":
        return "ExperimentName"
    if name in options.datapaths:
        return f"DataPathAssignments.{name}"
    if name in options.parameters:
        return f"ParameterAssignments.{name}"
    return "ParameterAssignments"


def submitted(services: Services, request: ServiceRequest, options: SubmitOptions,
              submit: Callable[[], SubmitResult]) -> ServiceResponse:
    """Run ``submit`` and answer 202 with the run; refusals name the field (every submit route shares this)."""
    options.submitted_by = request.principal_id
    options.task_hub = request.task_hub
    try:
        result = submit()
    except AmliteError as exc:
        error = from_exception(exc, lambda name: submit_field(name, options))
        if error is None:
            raise
        raise error from None
    row = result.row or services.runs.get_run(result.run_id)  # a run just created needs no second read
    headers = {"Location": run_url(request.base, result.run_id)}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    pending = None if result.replayed or result.launched else result.run_id
    return ServiceResponse(202, run_entity(row, request.base), headers, launch_run_id=pending,
                           launch_row=row if pending else None)


def _submit(services: Services, request: ServiceRequest, record: PipelineRecord, options: SubmitOptions,
            idempotency: Idempotency | None) -> ServiceResponse:
    return submitted(services, request, options,
                     lambda: submit_published(services, record, options, idempotency, launch=request.launch))


def submit_pipeline_run(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelines/{pipeline_id}/runs (``PublishedPipeline.endpoint``) and the AML PipelineSubmit alias."""
    record = pipeline_store(services).get(route_key(request, "published pipeline", "pipeline_id"))
    options = parse_submit_body(request.body)
    idempotency = request_idempotency(request, f"pipeline:{record.id}", options, {})
    return _submit(services, request, record, options, idempotency)


def submit_endpoint_run(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/pipelineendpoints/{endpoint}/runs[?version=] (id or name) and the AML endpoint aliases."""
    endpoint = endpoint_store(services).resolve(route_key(request, "pipeline endpoint", "endpoint", "endpoint_id"))
    return _submit_to_endpoint(services, request, endpoint)


def submit_endpoint_run_by_name(services: Services, request: ServiceRequest) -> ServiceResponse:
    """AML's ``.../PipelineEndpointSubmit/Name?name=<endpoint>&pipelineVersion=<version>``."""
    name = request.query_value("name")
    if not name or not is_key_safe(name):
        raise bad_request("query parameter 'name' must name the pipeline endpoint, e.g. ?name=my-endpoint", "name",
                          "InvalidQuery")
    return _submit_to_endpoint(services, request, endpoint_store(services).get_by_name(name))


def _submit_to_endpoint(services: Services, request: ServiceRequest, endpoint: EndpointRecord) -> ServiceResponse:
    version = request.route("version") or request.query_value("version") or request.query_value("pipelineVersion")
    options = parse_submit_body(request.body)
    require_active_endpoint(endpoint)
    record = endpoint_pipeline(services, endpoint, version or None)
    options.pipeline_endpoint_id = endpoint.id
    idempotency = request_idempotency(request, f"endpoint:{endpoint.id}", options, {"version": version or None})
    return _submit(services, request, record, options, idempotency)


def _metrics(services: Services, request: ServiceRequest, run_id: str) -> dict[str, dict[str, object]] | None:
    """The run's metrics by step ("" = its own) when the request asks (``?metrics=true``): one partition read."""
    if not query_bool(request, "metrics", False):
        return None
    return MetricStore(services.account).metrics(run_id)


def get_run(services: Services, request: ServiceRequest) -> ServiceResponse:
    run_id = route_key(request, "run", "run_id")
    if query_bool(request, "steps", False):
        state = services.runs.get_state(run_id)
        return ServiceResponse(200, run_entity(state.run, request.base, list(state.steps.values()),
                                               _metrics(services, request, run_id)))
    row = services.runs.get_run(run_id)
    return ServiceResponse(200, run_entity(row, request.base, metrics=_metrics(services, request, run_id)))


def list_run_steps(services: Services, request: ServiceRequest) -> ServiceResponse:
    run_id = route_key(request, "run", "run_id")
    state = services.runs.get_state(run_id)
    metrics = _metrics(services, request, run_id)
    return ServiceResponse(200, {"Value": [step_entity(row, run_id, request.base, metrics)
                                           for row in state.steps.values()]})


def get_step_log(services: Services, request: ServiceRequest) -> ServiceResponse:
    """One page of a step's log: at most :data:`LOG_PAGE_BYTES` from ``?offset=``.

    ``?file=`` picks std_log.txt (default), stdout/stderr or the driver log. ``X-Log-Offset`` is where the next
    page starts and ``X-Log-Size`` how many bytes the log held when read, so a reader follows pages until the
    two meet; a 50 MB log is never one answer. A full page ends on a whole UTF-8 character.
    """
    run_id, step = route_key(request, "run", "run_id"), route_key(request, "step", "step")
    row = services.runs.get_step(run_id, step)
    name = request.query_value("file") or STD_LOG
    if name not in LOG_FILES:
        raise bad_request(f"query parameter 'file' must be one of {', '.join(LOG_FILES)}, not {name!r}", "file",
                          "InvalidQuery")
    offset = query_int(request, "offset", 0, 0, 2**40)
    data, size = _log_page(services, step_log_blob_name(row, run_id, step, name), offset)
    if len(data) == LOG_PAGE_BYTES:
        data = data[:_utf8_boundary(data)]
    end = offset + len(data)
    return ServiceResponse(200, data.decode("utf-8", errors="replace"),
                           {"X-Log-Offset": str(end), "X-Log-Size": str(max(size, end))},
                           content_type="text/plain; charset=utf-8")


def _log_page(services: Services, blob_name: str, offset: int) -> tuple[bytes, int]:
    """Up to a page of bytes from ``offset`` and the blob's size then (``offset`` when nothing is there yet)."""
    container = services.account.container(LOGS_CONTAINER)
    try:
        download = container.download_blob(blob_name, offset=offset, length=LOG_PAGE_BYTES)
        data = download.readall()
    except ResourceNotFoundError:
        return b"", offset
    except HttpResponseError as exc:
        if exc.status_code != 416:  # offset at or past the end: nothing new yet
            raise
        return b"", offset
    total = _CONTENT_RANGE_TOTAL.search(download.properties.content_range or "")
    return data, int(total.group(1)) if total else offset + len(data)


def _utf8_boundary(data: bytes) -> int:
    """``len(data)`` less a trailing, incomplete UTF-8 sequence (a page cut may fall inside a character)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the sequence's lead byte
            continue
        length = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
        return len(data) if length <= back else len(data) - back
    return len(data)


def cancel_run(services: Services, request: ServiceRequest) -> ServiceResponse:
    """Ask a run to stop; a run already Finished or Failed answers 409, an already Canceled one 202."""
    from pipeline_core.engine.activities import request_cancel

    run_id = route_key(request, "run", "run_id")
    row = services.runs.get_run(run_id)
    if row.get("status") in (FINISHED, FAILED):
        raise ServiceError(409, "RunAlreadyEnded", f"run {run_id!r} already ended {row.get('status')}; "
                                                   "there is nothing to cancel")
    if row.get("status") != CANCELED:
        request_cancel(services, run_id)
        row = services.runs.get_run(run_id)
    return ServiceResponse(202, run_entity(row, request.base), {"Location": run_url(request.base, run_id)})


def list_experiment_runs(services: Services, request: ServiceRequest) -> ServiceResponse:
    experiment = request.route("experiment")
    try:
        check_experiment_name(experiment)
    except AmliteError as exc:
        raise bad_request(str(exc), "experiment", "InvalidField") from None
    top = query_int(request, "top", 50, 1, 1000)
    rows = services.runs.list_runs(experiment, top=top)
    return ServiceResponse(200, {"Value": [run_entity(row, request.base) for row in rows]})
