"""``RestRunSource``: a run followed over the REST API, in the run store's row shape.

The API answers AML v1's PascalCase entities (``Status.StatusCode``,
``IsReused``, ``Outputs.{DataStoreName, RelativePath}``); ``PipelineRun``,
``StepRun`` and ``progress.follow`` read rows (``status``, ``is_reused``,
``outputs.{datastore, path}``). Converting here, once, is what lets them run
unchanged against a remote workspace.
"""

from __future__ import annotations

import time
from typing import Any

from pipeline_core.client.api import AmliteClient, Entity
from pipeline_core.client.errors import RemoteConflictError
from pipeline_core.errors import NotFoundError
from pipeline_core.execution.logs import STD_LOG
from pipeline_core.rest.runs.entities import PROGRESS_NAMES
from pipeline_core.storage.run_store import RUN_ROW, STEP_PREFIX, RunState

#: A follower's polling interval against the API: one request per poll (plus one per running step's log).
REMOTE_POLL_SECONDS = 0.5


def _time(status: dict[str, Any], key: str) -> str:
    return str(status.get(key) or "")


def run_row(entity: Entity) -> dict[str, Any]:
    """A ``PipelineRun`` entity as the ``runs`` table row it was made from."""
    status = entity.get("Status") or {}
    parameters: dict[str, Any] = dict(entity.get("ParameterAssignments") or {})
    for name, path in (entity.get("DataPathAssignments") or {}).items():
        parameters[name] = {"datastore": path.get("DataStoreName"), "path": path.get("RelativePath") or ""}
    return {"PartitionKey": entity["Id"], "RowKey": RUN_ROW, "status": status.get("StatusCode"),
            "experiment": entity.get("ExperimentName"), "created_time": status.get("CreationTime"),
            "start_time": _time(status, "StartTime"), "end_time": _time(status, "EndTime"),
            "parameters": parameters, "graph_id": entity.get("GraphId"), "pipeline_id": entity.get("PipelineId") or "",
            "pipeline_endpoint_id": entity.get("PipelineEndpointId") or "", "error": entity.get("Error"),
            "description": entity.get("Description") or "", "tags": entity.get("Tags") or {},
            "run_source": entity.get("RunSource") or "",
            "continue_on_step_failure": bool(entity.get("ContinueOnStepFailure")),
            "regenerate_outputs": bool(entity.get("RegenerateOutputs")),
            "recorded": {"notes": list(entity.get("Notes") or [])}}


def step_row(entity: Entity, run_id: str, index: int) -> dict[str, Any]:
    """A ``StepRun`` entity as its ``runs`` table row (``index``: its position in the spec)."""
    status = entity.get("Status") or {}
    outputs = {name: {"datastore": loc.get("DataStoreName"), "path": loc.get("RelativePath")}
               for name, loc in (entity.get("Outputs") or {}).items() if isinstance(loc, dict)}
    return {"PartitionKey": run_id, "RowKey": STEP_PREFIX + entity["Name"], "name": entity["Name"], "index": index,
            "step_type": entity.get("StepType") or "", "status": status.get("StatusCode"),
            "start_time": _time(status, "StartTime"), "end_time": _time(status, "EndTime"),
            "is_reused": bool(entity.get("IsReused")), "reused_run_id": entity.get("ReusedRunId") or "",
            "attempt": int(entity.get("Attempt") or 0),
            "error": entity.get("Error"), "outputs": outputs, "progress": progress_row(entity.get("Progress")),
            **({"child_runs": [child_row(c, run_id, entity["Name"], i) for i, c in enumerate(entity["ChildRuns"])]}
               if entity.get("ChildRuns") else {})}


def child_row(entity: Entity, run_id: str, parent: str, index: int) -> dict[str, Any]:
    """A ``ChildRun`` entity (a HyperDrive trial) as its row (the inverse of ``entities.child_entity``)."""
    status = entity.get("Status") or {}
    return {"PartitionKey": run_id, "RowKey": STEP_PREFIX + entity["Name"], "name": entity["Name"],
            "parent_step": parent, "index": index, "status": status.get("StatusCode"),
            "start_time": _time(status, "StartTime"), "end_time": _time(status, "EndTime"),
            "parameters": entity.get("Parameters") or {}, "error": entity.get("Error")}


def progress_row(progress: Any) -> dict[str, Any] | None:
    """A ``StepProgress`` entity as the step row's ``progress`` (the inverse of ``entities.progress_entity``)."""
    if not isinstance(progress, dict):
        return None
    return {key: progress.get(name) for key, name in PROGRESS_NAMES.items()}


class RestRunSource:
    """One run read through ``GET /api/runs/{id}``, ``/steps`` and ``/steps/{step}/logs``."""

    poll_seconds = REMOTE_POLL_SECONDS

    def __init__(self, client: AmliteClient, run_id: str):
        self.client = client
        self.run_id = run_id

    def wait_for_change(self, poll: float, limit: float) -> None:
        """The REST API has no change feed: sleep ``poll`` (never past ``limit``)."""
        time.sleep(max(0.0, min(poll, limit)))

    def wait_for_end(self, poll: float, limit: float) -> None:
        self.wait_for_change(poll, limit)

    def get_run(self) -> dict[str, Any]:
        return run_row(self.client.get_run(self.run_id))

    def get_state(self) -> RunState:
        """Run and steps in one request (``?steps=true``), so they are read at the same moment."""
        entity = self.client.get_run(self.run_id, steps=True)
        steps = [step_row(s, self.run_id, i) for i, s in enumerate(entity.get("Steps") or [])]
        return RunState(run_row(entity), {row["name"]: row for row in steps})

    def get_tags(self) -> dict[str, str]:
        """The tags the run entity carries (those given at submit)."""
        return dict(self.get_run().get("tags") or {})

    def get_step(self, name: str) -> dict[str, Any]:
        for index, entity in enumerate(self.client.list_steps(self.run_id)):
            if entity.get("Name") == name:
                return step_row(entity, self.run_id, index)
        raise NotFoundError(f"step {name!r} was not found in run {self.run_id!r}")

    def read_log(self, step: str, file: str = STD_LOG, offset: int = 0) -> tuple[bytes, int]:
        """Everything from ``offset`` to the log's end as it was read, one page (at most 1 MiB) per request."""
        pages: list[bytes] = []
        while True:
            data, offset, size = self.client.step_log_page(self.run_id, step, None if file == STD_LOG else file,
                                                           offset)
            pages.append(data)
            if not data or offset >= size:
                return b"".join(pages), offset

    def get_metrics(self, step: str | None = None) -> dict[str, dict[str, Any]]:
        """``{step: {name: value}}`` ("" = the run's own) from one ``GET /api/runs/{id}?steps=true&metrics=true``
        (the REST API has no per-step metrics read, so ``step`` filters what that answer holds)."""
        entity = self.client.get_run(self.run_id, steps=True, metrics=True)
        found: dict[str, dict[str, Any]] = {"": dict(entity.get("Metrics") or {})}
        for row in entity.get("Steps") or []:
            found[row["Name"]] = dict(row.get("Metrics") or {})
            for child in row.get("ChildRuns") or []:
                found[child["Name"]] = dict(child.get("Metrics") or {})
        return found if step is None else {step: found.get(step, {})}

    def cancel(self) -> None:
        """Like a local cancel, asking to cancel a run that already ended is not an error."""
        try:
            self.client.cancel(self.run_id)
        except RemoteConflictError as exc:
            if exc.code != "RunAlreadyEnded":
                raise
