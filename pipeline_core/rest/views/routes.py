"""The run view's JSON routes: the live view of a run, an output's files, a ParallelRunStep's mini-batches,
and resubmitting a run with edited parameters (the browser page and scripts use them alike)."""

from __future__ import annotations

from pipeline_core.auth import ROLE_READ, ROLE_SUBMIT
from pipeline_core.rest.routing import API_PREFIX, Param, Route
from pipeline_core.rest.views import handlers

_RUN = f"{API_PREFIX}/runs/{{run_id}}"
_STEP = f"{_RUN}/steps/{{step}}"

ROUTES: tuple[Route, ...] = (
    Route(method="GET", path=f"{_RUN}/view", operation_id="getRunView", role=ROLE_READ,
          handler=handlers.get_run_view,
          summary="The run as the run view shows it: steps with reuse decisions, durations, attempts, progress and "
                  "outputs, and the graph's data and run_after edges",
          tag="runs", response_schema="RunView", errors=(404,)),
    Route(method="GET", path=f"{_STEP}/outputs/{{output}}/files", operation_id="listStepOutputFiles",
          role=ROLE_READ, handler=handlers.list_output_files,
          summary="One page of the files a step wrote to an output", tag="runs",
          response_schema="OutputFileList",
          query=(Param("top", "At most this many (1-1000, default 100)", {"type": "integer"}),
                 Param("continuation", "The previous page's Continuation")),
          errors=(400, 404)),
    Route(method="GET", path=f"{_STEP}/minibatches", operation_id="listStepMiniBatches", role=ROLE_READ,
          handler=handlers.list_minibatches,
          summary="A ParallelRunStep's recorded mini-batches in index order (the failed ones with their first error)",
          tag="runs", response_schema="MiniBatchList",
          query=(Param("status", "Only succeeded or only failed mini-batches",
                       {"type": "string", "enum": ["succeeded", "failed"]}),
                 Param("top", "At most this many (1-500, default 50)", {"type": "integer"}),
                 Param("after", "Start after this index (the previous page's NextAfter)", {"type": "integer"})),
          errors=(400, 404)),
    Route(method="GET", path=f"{_STEP}/minibatches/map", operation_id="getStepMiniBatchMap", role=ROLE_READ,
          handler=handlers.minibatch_map,
          summary="Every mini-batch of a ParallelRunStep as one character (s succeeded, f failed, . not done)",
          tag="runs", response_schema="MiniBatchMap", errors=(404,)),
    Route(method="POST", path=f"{_RUN}/resubmit", operation_id="resubmitRun", role=ROLE_SUBMIT,
          handler=handlers.resubmit_run,
          summary="Run the same pipeline again with the run's parameters, changed where the body assigns them",
          tag="runs", success_status=202, request_schema="ResubmitRunRequest",
          response_schema="PipelineRun", response_headers=("Location",), errors=(400, 404, 409)),
)
