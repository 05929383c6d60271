"""``POST /api/runs``: submit an unpublished pipeline's spec, as AML v1's ``Experiment.submit(pipeline)`` does.

Why a route of its own: AML v1 never asks a user to publish before running; the
SDK sends the graph with the submit. Here the SDK uploads the step snapshots to
the workspace storage first (content-addressed, as AML uploads snapshots to the
workspace's storage) and posts the spec; the spec is checked exactly as a
publish checks it (shape, uploaded snapshots, graph validation), and the run is
created by the same submission code as a published pipeline's run.
"""

from __future__ import annotations

from pipeline_core.application.submission import submit_spec
from pipeline_core.engine.services import Services
from pipeline_core.rest.body import Fields, parse_json_object
from pipeline_core.rest.errors import bad_request
from pipeline_core.rest.pipelines.body import checked_spec, spec_document
from pipeline_core.rest.request import ServiceRequest, ServiceResponse
from pipeline_core.rest.runs.body import IGNORED_SUBMIT_FIELDS, SUBMIT_FIELDS, submit_options
from pipeline_core.rest.runs.handlers import request_idempotency, submitted

SPEC_SUBMIT_FIELDS = (*SUBMIT_FIELDS, "PipelineSpec")
SPEC_SUBMIT_EXAMPLE = ('{"ExperimentName": "my-experiment", "PipelineSpec": {...Pipeline.spec().to_json()...}, '
                       '"ParameterAssignments": {"alpha": 0.5}}')


def submit_pipeline_spec(services: Services, request: ServiceRequest) -> ServiceResponse:
    """Check the body and the spec, then create (and, unless the HTTP layer starts it, launch) the run."""
    fields = Fields(parse_json_object(request.body, "submit", SPEC_SUBMIT_EXAMPLE), SPEC_SUBMIT_FIELDS,
                    IGNORED_SUBMIT_FIELDS)
    options = submit_options(fields, default_run_source="API")
    if not fields.present("PipelineSpec"):
        raise bad_request("PipelineSpec is required: the pipeline's spec (Pipeline.spec().to_json()); to run a "
                          "published pipeline POST to its endpoint instead", "PipelineSpec", "MissingField")
    spec = checked_spec(services, spec_document(fields.values["PipelineSpec"]))
    idempotency = request_idempotency(request, f"graph:{spec.graph_id}", options, {})
    return submitted(services, request, options,
                     lambda: submit_spec(services, spec, options, idempotency, launch=request.launch))
