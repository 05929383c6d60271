"""The run view's JSON routes, appended to ``routes.ROUTES`` (so the HTTP functions and OpenAPI get them too).

Kept in their own tuple, as the schedule routes are, so the run view can change
without touching the shared table; ``routes.py`` imports this module after
defining ``Route``.
"""

from __future__ import annotations

from pipeline_core.auth import ROLE_READ, ROLE_SUBMIT
from pipeline_core.rest.routes import API_PREFIX, Param, Route
from pipeline_core.rest.views import handlers as ops

_RUN = f"{API_PREFIX}/runs/{{run_id}}"
_STEP = f"{_RUN}/steps/{{step}}"

VIEW_ROUTES: tuple[Route, ...] = (
    Route("GET", f"{_RUN}/view", "getRunView", ROLE_READ, ops.get_run_view,
          "The run as the run view shows it: steps with reuse decisions, durations, attempts, progress and "
          "outputs, and the graph's data and run_after edges", "runs", response_schema="RunView", errors=(404,)),
    Route("GET", f"{_STEP}/outputs/{{output}}/files", "listStepOutputFiles", ROLE_READ, ops.list_output_files,
          "One page of the files a step wrote to an output", "runs", response_schema="OutputFileList",
          query=(Param("top", "At most this many (1-1000, default 100)", {"type": "integer"}),
                 Param("continuation", "The previous page's Continuation")), errors=(400, 404)),
    Route("GET", f"{_STEP}/minibatches", "listStepMiniBatches", ROLE_READ, ops.list_minibatches,
          "A ParallelRunStep's recorded mini-batches in index order (the failed ones with their first error)",
          "runs", response_schema="MiniBatchList",
          query=(Param("status", "Only succeeded or only failed mini-batches",
                       {"type": "string", "enum": ["succeeded", "failed"]}),
                 Param("top", "At most this many (1-500, default 50)", {"type": "integer"}),
                 Param("after", "Start after this index (the previous page's NextAfter)", {"type": "integer"})),
          errors=(400, 404)),
    Route("GET", f"{_STEP}/minibatches/map", "getStepMiniBatchMap", ROLE_READ, ops.minibatch_map,
          "Every mini-batch of a ParallelRunStep as one character (s succeeded, f failed, . not done)", "runs",
          response_schema="MiniBatchMap", errors=(404,)),
    Route("POST", f"{_RUN}/resubmit", "resubmitRun", ROLE_SUBMIT, ops.resubmit_run,
          "Run the same pipeline again with the run's parameters, changed where the body assigns them", "runs",
          202, "ResubmitRunRequest", "PipelineRun", response_headers=("Location",), errors=(400, 404, 409)),
)
