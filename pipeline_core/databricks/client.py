"""``DatabricksJobsClient``: the Jobs API calls a DatabricksStep needs, one request each.

Why no waiting here: a run can last hours. The orchestrator submits (an
activity), then reads the state (an activity) after each durable timer, and
cancels (an activity) when the pipeline run is cancelled. A client that slept
until the run ended would hold a worker for the run's whole length.

Authentication: a personal access token, or Entra ID through an azure-identity
credential, asked for the AzureDatabricks resource (its tokens are refreshed
before they expire). The SDK retries throttling and transient 5xx answers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline_core.databricks.task import DatabricksTask
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.status import RunStatus

#: The AzureDatabricks first-party application: Entra ID tokens for a workspace are asked for this resource.
AZURE_DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
TERMINAL_LIFE_CYCLE = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
#: DBFS takes at most 1 MB per add-block call.
DBFS_BLOCK = 1024 * 1024
#: Seconds before an Entra ID token's expiry when a new one is asked for.
TOKEN_REFRESH_MARGIN = 300


@dataclass(frozen=True)
class RunState:
    """A run's state as the Jobs API reports it, and what it means for the step."""

    run_id: int
    life_cycle_state: str
    result_state: str | None
    state_message: str
    run_page_url: str | None = None
    task_run_id: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.life_cycle_state in TERMINAL_LIFE_CYCLE

    @property
    def status(self) -> str:
        """The step's AML status: NotStarted, Running, Finished, Failed or Canceled."""
        if not self.is_terminal:
            return RunStatus.NOT_STARTED if self.life_cycle_state in ("PENDING", "QUEUED", "BLOCKED") else RunStatus.RUNNING
        if self.result_state in ("SUCCESS", "SUCCESS_WITH_FAILURES"):
            return RunStatus.FINISHED
        if self.result_state in ("CANCELED", "CANCELLED"):
            return RunStatus.CANCELED
        return RunStatus.FAILED

    def describe(self) -> str:
        where = f" ({self.run_page_url})" if self.run_page_url else ""
        result = f"/{self.result_state}" if self.result_state else ""
        message = f": {self.state_message}" if self.state_message else ""
        return f"Databricks run {self.run_id} {self.life_cycle_state}{result}{message}{where}"


@dataclass(frozen=True)
class RunOutput:
    """What the driver left: its log (stdout of a Python file or JAR), a notebook's exit value, an error."""

    logs: str
    logs_truncated: bool
    notebook_result: str | None
    error: str | None
    error_trace: str | None

    def as_log_text(self) -> str:
        """The text the step's log gets."""
        parts = [self.logs] if self.logs else []
        if self.logs_truncated:
            parts.append("[the driver's log was truncated by Databricks]")
        if self.notebook_result is not None:
            parts.append(f"notebook result: {self.notebook_result}")
        if self.error:
            parts.append(f"error: {self.error}")
        if self.error_trace:
            parts.append(self.error_trace)
        return "\n".join(parts)


def _enum_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


class DatabricksJobsClient:
    """Jobs API client for one workspace (``https://adb-<id>.<n>.azuredatabricks.net``)."""

    def __init__(self, host: str, *, token: str | None = None, credential: Any = None,
                 http_timeout_seconds: float = 60, retry_timeout_seconds: int = 120):
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        if not host or not host.startswith(("https://", "http://")):
            raise AmliteError(f"Databricks workspace URL {host!r} is not a URL: use "
                              "https://adb-<workspace id>.<n>.azuredatabricks.net")
        if bool(token) == (credential is not None):
            raise AmliteError("DatabricksJobsClient needs exactly one of token= (a personal access token) and "
                              "credential= (an azure-identity credential for Entra ID)")
        options: dict[str, Any] = {"host": host.rstrip("/"), "http_timeout_seconds": http_timeout_seconds,
                                   "retry_timeout_seconds": retry_timeout_seconds}
        if token:
            options.update(token=token, auth_type="pat")
        else:
            options["credentials_strategy"] = _EntraIdStrategy(credential)
        self.host = options["host"]
        self._workspace = WorkspaceClient(config=Config(**options))

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        from databricks.sdk.errors import DatabricksError, NotFound

        try:
            return call()
        except NotFound as exc:
            raise NotFoundError(f"Databricks {what}: {exc}") from exc
        except DatabricksError as exc:
            code = getattr(exc, "error_code", None) or type(exc).__name__
            raise AmliteError(f"Databricks {what} was refused ({code}): {exc}") from exc

    def submit(self, task: DatabricksTask, run_name: str, *, idempotency_token: str | None = None,
               timeout_seconds: int | None = None) -> int:
        """Start a one-time run (``runs/submit``) and return its run id.

        The same ``idempotency_token`` (up to 64 characters) returns the same run, so a
        redelivered submit activity never starts a second run.
        """
        from databricks.sdk.service.jobs import SubmitTask

        if idempotency_token is not None and len(idempotency_token) > 64:
            raise AmliteError("idempotency_token is at most 64 characters")
        waiter = self._call("runs/submit", lambda: self._workspace.jobs.submit(
            run_name=run_name, tasks=[SubmitTask.from_dict(task.as_jobs_task())],
            idempotency_token=idempotency_token, timeout_seconds=timeout_seconds))
        return int(waiter.response.run_id)

    def get_state(self, run_id: int) -> RunState:
        """The run's state now (``runs/get``): one request, no waiting."""
        run = self._call(f"runs/get of run {run_id}", lambda: self._workspace.jobs.get_run(run_id))
        state = run.state
        tasks = run.tasks or []
        return RunState(run_id=int(run.run_id or run_id),
                        life_cycle_state=_enum_text(state.life_cycle_state if state else None) or "PENDING",
                        result_state=_enum_text(state.result_state if state else None),
                        state_message=(state.state_message if state else "") or "",
                        run_page_url=run.run_page_url,
                        task_run_id=int(tasks[0].run_id) if tasks and tasks[0].run_id else None)

    def cancel(self, run_id: int) -> None:
        """Ask Databricks to cancel the run (``runs/cancel``); it ends as CANCELED shortly after."""
        self._call(f"runs/cancel of run {run_id}", lambda: self._workspace.jobs.cancel_run(run_id))

    def exists(self, dbfs_path: str) -> bool:
        """Whether a DBFS file or folder exists (``dbfs/get-status``); ``dbfs_path`` is absolute (``/amlite/...``)."""
        try:
            self._call(f"dbfs/get-status of {dbfs_path}", lambda: self._workspace.dbfs.get_status(dbfs_path))
        except NotFoundError:
            return False
        return True

    def upload(self, dbfs_path: str, data: bytes) -> None:
        """Write one DBFS file (``dbfs/create``, ``add-block`` in 1 MB blocks, ``close``), replacing what was there."""
        import base64

        dbfs = self._workspace.dbfs
        handle = self._call(f"dbfs/create of {dbfs_path}", lambda: dbfs.create(dbfs_path, overwrite=True)).handle
        for start in range(0, max(len(data), 1), DBFS_BLOCK):
            block = base64.b64encode(data[start:start + DBFS_BLOCK]).decode()
            self._call(f"dbfs/add-block of {dbfs_path}", functools.partial(dbfs.add_block, handle, block))
        self._call(f"dbfs/close of {dbfs_path}", lambda: dbfs.close(handle))

    def get_output(self, run_id: int, task_run_id: int | None = None) -> RunOutput:
        """The driver's output (``runs/get-output``) of the run's task."""
        if task_run_id is None:
            task_run_id = self.get_state(run_id).task_run_id or run_id
        answer = self._call(f"runs/get-output of run {run_id}",
                            lambda: self._workspace.jobs.get_run_output(task_run_id))
        notebook = answer.notebook_output
        return RunOutput(logs=answer.logs or "", logs_truncated=bool(answer.logs_truncated),
                         notebook_result=notebook.result if notebook else None,
                         error=answer.error, error_trace=answer.error_trace)


class _EntraIdStrategy:
    """Bearer tokens from an azure-identity credential for the AzureDatabricks resource, refreshed near expiry."""

    def __init__(self, credential: Any):
        self._credential = credential
        self._token: Any = None

    def auth_type(self) -> str:
        return "amlite-entra-id"

    def __call__(self, cfg: Any) -> Callable[[], dict[str, str]]:
        def headers() -> dict[str, str]:
            if self._token is None or self._token.expires_on - TOKEN_REFRESH_MARGIN <= time.time():
                self._token = self._credential.get_token(f"{AZURE_DATABRICKS_RESOURCE}/.default")
            return {"Authorization": f"Bearer {self._token.token}"}

        return headers


def poll_delay(polls_so_far: int, first: float = 5.0, cap: float = 60.0) -> float:
    """Seconds the orchestrator's durable timer waits before its next ``get_state``: 5, 10, 20, 40, then 60.

    Deterministic (no jitter, no clock), so an orchestrator can call it during replay.
    A run's first minutes are polled closely (short runs end promptly); a long run
    costs one state read a minute.
    """
    if polls_so_far < 0:
        raise ValueError("polls_so_far counts from 0")
    return min(cap, first * 2 ** min(polls_so_far, 16))
