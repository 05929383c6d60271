"""The run routes: submit (to a published pipeline, an endpoint, or a spec), read, steps, logs, cancel, list;
and AML v1's aliases of the submit, read and cancel routes (:data:`AML_ROUTES`)."""

from __future__ import annotations

from pipeline_core.auth import ROLE_READ, ROLE_SUBMIT
from pipeline_core.rest.routing import AML_PREFIX, API_PREFIX, Param, Route
from pipeline_core.rest.runs import handlers, spec_submit

_ID_KEY = Param("Idempotency-Key", "Repeat a submit safely: the same key (for the same pipeline or endpoint) "
                                   "within 24 hours returns the first run instead of creating another.")
_VERSION = Param("version", "Endpoint version to run (default: the endpoint's default version)")
_METRICS = Param("metrics", "Include the metrics logged with Run.get_context() (default false)", {"type": "boolean"})
_SUBMIT_ERRORS = (400, 404, 409)
_SUBMIT_HEADERS = ("Location", "Idempotent-Replayed")

ROUTES: tuple[Route, ...] = (
    Route(method="POST", path=f"{API_PREFIX}/pipelines/{{pipeline_id}}/runs",
          operation_id="submitPipelineRun", role=ROLE_SUBMIT, handler=handlers.submit_pipeline_run,
          summary="Submit a run of a published pipeline (PublishedPipeline.endpoint); "
                  "409 PipelineDisabled for a disabled pipeline",
          tag="runs", success_status=202, request_schema="SubmitPipelineRunRequest",
          response_schema="PipelineRun", headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS,
          errors=_SUBMIT_ERRORS),
    Route(method="POST", path=f"{API_PREFIX}/pipelineendpoints/{{endpoint}}/runs",
          operation_id="submitPipelineEndpointRun", role=ROLE_SUBMIT, handler=handlers.submit_endpoint_run,
          summary="Submit a run to a pipeline endpoint (by id or name)", tag="runs", success_status=202,
          request_schema="SubmitPipelineRunRequest", response_schema="PipelineRun", query=(_VERSION,),
          headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS),
    Route(method="POST", path=f"{API_PREFIX}/runs", operation_id="submitPipelineSpec", role=ROLE_SUBMIT,
          handler=spec_submit.submit_pipeline_spec,
          summary="Submit an unpublished pipeline (its spec; the SDK uploads the step snapshots first), as "
                  "Experiment.submit(pipeline) does",
          tag="runs", success_status=202, request_schema="SubmitPipelineSpecRequest",
          response_schema="PipelineRun", headers=(_ID_KEY,), response_headers=_SUBMIT_HEADERS,
          errors=(400, 409)),
    Route(method="GET", path=f"{API_PREFIX}/runs/{{run_id}}", operation_id="getRun", role=ROLE_READ,
          handler=handlers.get_run, summary="Get a run", tag="runs", response_schema="PipelineRun",
          query=(Param("steps", "Include the run's steps (default false)", {"type": "boolean"}), _METRICS)),
    Route(method="GET", path=f"{API_PREFIX}/runs/{{run_id}}/steps", operation_id="listRunSteps",
          role=ROLE_READ, handler=handlers.list_run_steps, summary="List a run's steps", tag="runs",
          response_schema="StepRunList", errors=(404,), query=(_METRICS,)),
    Route(method="GET", path=f"{API_PREFIX}/runs/{{run_id}}/steps/{{step}}/logs", operation_id="getStepLog",
          role=ROLE_READ, handler=handlers.get_step_log,
          summary="A page of a step's log text: at most 1 MiB from ?offset=; continue from "
                  "X-Log-Offset while it is below X-Log-Size",
          tag="runs", response_content_type="text/plain",
          query=(Param("file", "std_log.txt (default), stdout.txt, stderr.txt or 70_driver_log.txt"),
                 Param("offset", "Skip this many bytes (continue from X-Log-Offset)", {"type": "integer"})),
          response_headers=("X-Log-Offset", "X-Log-Size")),
    Route(method="POST", path=f"{API_PREFIX}/runs/{{run_id}}/cancel", operation_id="cancelRun",
          role=ROLE_SUBMIT, handler=handlers.cancel_run,
          summary="Cancel a run (409 if it already ended Finished or Failed)", tag="runs",
          success_status=202, response_schema="PipelineRun", response_headers=("Location",),
          errors=(404, 409)),
    Route(method="GET", path=f"{API_PREFIX}/experiments/{{experiment}}/runs",
          operation_id="listExperimentRuns", role=ROLE_READ, handler=handlers.list_experiment_runs,
          summary="List an experiment's runs, newest first", tag="runs", response_schema="PipelineRunList",
          query=(Param("top", "At most this many runs (1-1000, default 50)", {"type": "integer"}),)),
)

AML_ROUTES: tuple[Route, ...] = (
    Route(method="POST", path=f"{AML_PREFIX}/PipelineRuns/PipelineSubmit/{{pipeline_id}}",
          operation_id="amlSubmitPipelineRun", role=ROLE_SUBMIT, handler=handlers.submit_pipeline_run,
          summary="AML v1: submit a published pipeline", tag="aml-v1", success_status=202,
          request_schema="SubmitPipelineRunRequest", response_schema="PipelineRun", headers=(_ID_KEY,),
          response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS, alias_of="submitPipelineRun"),
    Route(method="POST", path=f"{AML_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Id/{{endpoint_id}}",
          operation_id="amlSubmitPipelineEndpointRun", role=ROLE_SUBMIT,
          handler=handlers.submit_endpoint_run,
          summary="AML v1: submit to a pipeline endpoint's default version", tag="aml-v1",
          success_status=202, request_schema="SubmitPipelineRunRequest", response_schema="PipelineRun",
          query=(Param("pipelineVersion", "Endpoint version to run"),), headers=(_ID_KEY,),
          response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS, alias_of="submitPipelineEndpointRun"),
    Route(method="POST", path=f"{AML_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Name",
          operation_id="amlSubmitPipelineEndpointRunByName", role=ROLE_SUBMIT,
          handler=handlers.submit_endpoint_run_by_name,
          summary="AML v1: submit to a pipeline endpoint by its name", tag="aml-v1",
          success_status=202, request_schema="SubmitPipelineRunRequest", response_schema="PipelineRun",
          query=(Param("name", "The pipeline endpoint's name", required=True),
                 Param("pipelineVersion", "Endpoint version to run")), headers=(_ID_KEY,),
          response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS, alias_of="submitPipelineEndpointRun"),
    Route(method="POST",
          path=f"{AML_PREFIX}/PipelineRuns/PipelineEndpointSubmit/Id/{{endpoint_id}}/{{version}}",
          operation_id="amlSubmitPipelineEndpointRunVersion", role=ROLE_SUBMIT,
          handler=handlers.submit_endpoint_run,
          summary="AML v1: submit to one version of a pipeline endpoint", tag="aml-v1", success_status=202,
          request_schema="SubmitPipelineRunRequest", response_schema="PipelineRun", headers=(_ID_KEY,),
          response_headers=_SUBMIT_HEADERS, errors=_SUBMIT_ERRORS, alias_of="submitPipelineEndpointRun"),
    Route(method="GET", path=f"{AML_PREFIX}/PipelineRuns/{{run_id}}", operation_id="amlGetPipelineRun",
          role=ROLE_READ, handler=handlers.get_run, summary="AML v1: get a pipeline run", tag="aml-v1",
          response_schema="PipelineRun", errors=(404,), alias_of="getRun"),
    Route(method="POST", path=f"{AML_PREFIX}/PipelineRuns/{{run_id}}/Cancel",
          operation_id="amlCancelPipelineRun", role=ROLE_SUBMIT, handler=handlers.cancel_run,
          summary="AML v1: cancel a pipeline run", tag="aml-v1", success_status=202,
          response_schema="PipelineRun", response_headers=("Location",), errors=(404, 409),
          alias_of="cancelRun"),
)
