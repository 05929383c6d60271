"""Route handlers the run view needs beyond the core run routes: the live view of a run, an output's files,
a ParallelRunStep's mini-batches, and resubmitting a run with edited parameters.

JSON routes like the rest of the API (same auth, same errors, in OpenAPI), so
scripts can use them too; the browser page polls ``GET /api/runs/{id}/view``.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.application.stores import pipeline_store
from pipeline_core.application.submission import SubmitOptions, submit_published, submit_spec
from pipeline_core.engine.services import Services
from pipeline_core.errors import NotFoundError
from pipeline_core.parallel.batches import FAILED, SUCCEEDED, BatchStore, inputs_of, partition, row_key
from pipeline_core.rest.body import Fields, parse_json_object, query_int
from pipeline_core.rest.errors import bad_request
from pipeline_core.rest.keys import route_key
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.runs.body import IGNORED_SUBMIT_FIELDS, SUBMIT_FIELDS, submit_options
from pipeline_core.rest.runs.handlers import submitted
from pipeline_core.rest.views.output_files import MAX_LIST, list_files, output_place
from pipeline_core.rest.views.run_view import run_view
from pipeline_core.spec import PipelineSpec

MAX_BATCH_PAGE = 500
#: One character per mini-batch in ``minibatches/map``: recorded ones by result, others not yet done.
MAP_CHARS = {SUCCEEDED: "s", FAILED: "f"}
RESUBMIT_EXAMPLE = '{"ParameterAssignments": {"alpha": 0.5}}'


def _run_and_step(request: ServiceRequest) -> tuple[str, str]:
    return route_key(request, "run", "run_id"), route_key(request, "step", "step")


def load_spec_or_none(services: Services, graph_id: str | None) -> PipelineSpec | None:
    """The run's spec for its edges; a run whose spec blob is gone still shows its steps (without edges)."""
    if not graph_id:
        return None
    try:
        return services.load_spec(graph_id)
    except NotFoundError:
        return None


def get_run_view(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/runs/{run_id}/view: the run, every step as the step panel shows it, and the graph's edges."""
    state = services.runs.get_state(route_key(request, "run", "run_id"))
    return ServiceResponse(200, run_view(state, load_spec_or_none(services, state.run.get("graph_id"))))


def list_output_files(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET /api/runs/{run_id}/steps/{step}/outputs/{output}/files?top=&continuation=: one page of file names."""
    run_id, step = _run_and_step(request)
    place = output_place(services, run_id, step, route_key(request, "output", "output"))
    top = query_int(request, "top", 100, 1, MAX_LIST)
    return ServiceResponse(200, list_files(place, top, request.query_value("continuation")))


def _batch_entity(row: dict[str, Any]) -> dict[str, Any]:
    error = str(row.get("error") or "")
    return {"Index": int(row["index"]), "Status": row.get("status"), "Tries": int(row.get("tries") or 0),
            "Items": int(row.get("items") or 0), "FailedItems": int(row.get("failed_items") or 0),
            "Error": error or None, "FirstErrorLine": error.strip().splitlines()[0] if error.strip() else None,
            "Inputs": inputs_of(row)[:20]}


def list_minibatches(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET .../minibatches?status=failed|succeeded&top=&after=: recorded mini-batches in index order, paged.

    ``after`` is the last index of the previous page, so a page is one range query whatever the step's size.
    """
    run_id, step = _run_and_step(request)
    services.runs.get_step(run_id, step)
    status = (request.query_value("status") or "").lower() or None
    if status not in (None, SUCCEEDED, FAILED):
        raise bad_request(f"query parameter 'status' must be {SUCCEEDED} or {FAILED}, not {status!r}", "status",
                          "InvalidQuery")
    top = query_int(request, "top", 50, 1, MAX_BATCH_PAGE)
    after = query_int(request, "after", -1, -1, 10**8 - 1)
    query = "PartitionKey eq @pk and RowKey gt @after"
    params: dict[str, Any] = {"pk": partition(run_id, step), "after": row_key(after) if after >= 0 else ""}
    if status:
        query += " and status eq @status"
        params["status"] = status
    rows: list[dict[str, Any]] = []
    table = BatchStore(services.account).table
    select = ["index", "status", "tries", "items", "failed_items", "error", "inputs"]
    for row in table.query_entities(query, parameters=params, select=select, results_per_page=min(top + 1, 1000)):
        rows.append(dict(row))
        if len(rows) > top:
            break
    more = len(rows) > top
    page = [_batch_entity(r) for r in rows[:top]]
    return ServiceResponse(200, {"Value": page, "NextAfter": page[-1]["Index"] if more and page else None})


def minibatch_map(services: Services, request: ServiceRequest) -> ServiceResponse:
    """GET .../minibatches/map: one character per mini-batch (``s`` succeeded, ``f`` failed, ``.`` not done),
    so a page can draw 10,000 mini-batches from one small answer."""
    run_id, step = _run_and_step(request)
    row = services.runs.get_step(run_id, step)
    found = row.get("progress")
    progress: dict[str, Any] = found if isinstance(found, dict) else {}
    count = int(progress.get("batches") or 0)
    marks = ["."] * count
    for found in BatchStore(services.account).rows(run_id, step, select=["index", "status"]):
        index = int(found["index"])
        if index >= len(marks):
            marks.extend(["."] * (index + 1 - len(marks)))
        marks[index] = MAP_CHARS.get(str(found.get("status")), ".")
    return ServiceResponse(200, {"Count": len(marks), "Statuses": "".join(marks)})


def _resubmit_options(run: dict[str, Any], body: bytes) -> SubmitOptions:
    """The submit body, defaulting to the run's experiment, over the run's own parameter values."""
    data = parse_json_object(body, "resubmit", RESUBMIT_EXAMPLE) if body.strip() else {}
    fields = Fields(data, SUBMIT_FIELDS, IGNORED_SUBMIT_FIELDS)
    if not fields.present("ExperimentName"):
        fields.values["ExperimentName"] = run.get("experiment")
    options = submit_options(fields, default_run_source="API")
    previous = dict(run.get("parameters") or {})
    options.parameters = {**{k: v for k, v in previous.items() if not isinstance(v, dict)}, **options.parameters}
    options.datapaths = {**{k: v for k, v in previous.items() if isinstance(v, dict)}, **options.datapaths}
    options.notes.append(f"resubmitted from run {run['PartitionKey']}")
    if options.continue_on_step_failure is None and run.get("continue_on_step_failure") is not None:
        options.continue_on_step_failure = bool(run.get("continue_on_step_failure"))
    return options


def resubmit_run(services: Services, request: ServiceRequest) -> ServiceResponse:
    """POST /api/runs/{run_id}/resubmit: a new run of the same pipeline (the published one if the run came from
    one, else the same graph), with the run's parameters except those the body assigns."""
    run = services.runs.get_run(route_key(request, "run", "run_id"))
    options = _resubmit_options(run, request.body)
    if run.get("pipeline_id"):
        record = pipeline_store(services).get(str(run["pipeline_id"]))
        options.pipeline_endpoint_id = run.get("pipeline_endpoint_id") or None
        return submitted(services, request, options,
                         lambda: submit_published(services, record, options, launch=request.launch))
    spec = services.load_spec(str(run.get("graph_id") or ""))
    return submitted(services, request, options, lambda: submit_spec(services, spec, options, launch=request.launch))
