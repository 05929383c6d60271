"""DatabricksStep's run time: its spec check and its poller (start = ``runs/submit``, poll = ``runs/get``, cancel).

Registered as a POLL kind (``engine/builtin_step_kinds.py``): the generic ``poll_step``
sub-orchestration calls ``start`` once, then ``poll`` between durable timers paced by
``AMLITE_DATABRICKS_POLL_FIRST_SECONDS``/``_MAX_SECONDS``, and ``cancel`` when the pipeline
run is canceled or the step's time is up. Each call is one Jobs API request.
"""

from __future__ import annotations

import threading
from typing import Any, cast
from urllib.parse import urlsplit

from pipeline_core.databricks.client import DatabricksJobsClient
from pipeline_core.databricks.settings import Connection, connection_for, databricks_settings
from pipeline_core.databricks.task import DatabricksTask
from pipeline_core.engine.poll_step import PollAnswer, Started, idempotency_token
from pipeline_core.engine.step_context import StepContext
from pipeline_core.errors import AmliteError
from pipeline_core.execution.binding import Location
from pipeline_core.status import RunStatus

#: Written last into a snapshot's DBFS folder: the upload is whole.
SNAPSHOT_MARKER = ".amlite-complete"
_clients: dict[tuple[str, str | None], DatabricksJobsClient] = {}
_lock = threading.Lock()


def _task_fields(entry: Any) -> dict[str, Any] | None:
    databricks = entry.get("databricks") if isinstance(entry, dict) else None
    task = databricks.get("task") if isinstance(databricks, dict) else None
    return task if isinstance(task, dict) else None


def check_databricks(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The spec entry's problems (SDK validate, publish, a posted spec, and again before the step runs)."""
    task = _task_fields(entry)
    if task is None:
        return [("databricks", "a DatabricksStep entry needs databricks.task (the notebook, Python file or JAR "
                               "to run and its cluster)")]
    databricks = entry["databricks"]
    problems: list[tuple[str, str]] = []
    host = databricks.get("host")
    if host is not None and (not isinstance(host, str) or urlsplit(host).scheme not in ("https", "http")):
        problems.append(("databricks.host", f"{host!r} is not a workspace URL (https://adb-<id>.<n>.azuredatabricks.net)"))
    compute = databricks.get("compute")
    if compute is not None and not isinstance(compute, str):
        problems.append(("databricks.compute", "the compute target's name must be text"))
    try:
        _task(task, lambda token: "x")
    except (AmliteError, TypeError, ValueError, AttributeError) as exc:
        problems.append(("databricks.task", str(exc)))
    return problems


def _task(task: dict[str, Any], resolve: Any, data: dict[str, str] | None = None,
          script_folder: str | None = None) -> DatabricksTask:
    """The Jobs API task: the entry's settings, parameters resolved, each input and output added by name."""
    data = data or {}
    notebook_params = {str(k): resolve(v) for k, v in (task.get("notebook_params") or {}).items()}
    script_params = [resolve(v) for v in task.get("python_script_params") or []]
    jar_params = [resolve(v) for v in task.get("jar_params") or []]
    flags = [part for name, url in data.items() for part in (f"-{name}", url)]  # AML: "-input1", "wasbs://..."
    script_path = task.get("python_script_path")
    if task.get("python_script_name"):  # the snapshot's copy on DBFS (a placeholder while only checking)
        folder = script_folder or "dbfs:/amlite/snapshots/<snapshot>"
        script_path = f"{folder}/{task['python_script_name']}"
        flags += ["--AZUREML_SCRIPT_DIRECTORY_NAME", folder]
    if task.get("notebook_path"):
        notebook_params.update(data)  # a notebook reads them as widgets: dbutils.widgets.get("input1")
    elif script_path:
        script_params += flags
    else:
        jar_params += flags
    timeout = task.get("timeout_seconds")
    return DatabricksTask(notebook_path=task.get("notebook_path"), notebook_params=notebook_params,
                          python_script_path=script_path, python_script_params=script_params,
                          main_class_name=task.get("main_class_name"), jar_params=jar_params,
                          libraries=list(task.get("libraries") or []),
                          existing_cluster_id=task.get("existing_cluster_id"), new_cluster=task.get("new_cluster"),
                          timeout_seconds=int(timeout) if timeout else None)


def storage_url(ctx: StepContext, loc: Location) -> str:
    """Where data is, as Databricks reads it: ``wasbs://container@account.blob.core.windows.net/path`` (AML's form);
    an emulator's blob URL as it is."""
    container = ctx.services.container_for(loc.datastore)
    url = urlsplit(container.url)
    path = loc.path.strip("/")
    if url.hostname and url.hostname.endswith(".blob.core.windows.net"):
        return f"wasbs://{container.container_name}@{url.hostname}/{path}"
    return f"{container.url.rstrip('/')}/{path}"


def upload_snapshot(ctx: StepContext, client: DatabricksJobsClient) -> str:
    """Copy the step's ``source_directory`` snapshot to DBFS once per content; its ``dbfs:/`` folder.

    The folder is named by the snapshot's hash, and a marker written last says it is whole,
    so a later run of the same code (or a redelivered start) uploads nothing.
    """
    snapshot = str(ctx.step.get("snapshot") or "")
    if not snapshot.isalnum():
        raise AmliteError(f"step {ctx.name!r}: python_script_name needs the snapshot of source_directory "
                          f"(got {snapshot!r})")
    folder = f"/amlite/snapshots/{snapshot}"
    if not client.exists(f"{folder}/{SNAPSHOT_MARKER}"):
        root = ctx.snapshot_dir()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            client.upload(f"{folder}/{path.relative_to(root).as_posix()}", path.read_bytes())
        client.upload(f"{folder}/{SNAPSHOT_MARKER}", b"")
    return f"dbfs:{folder}"


def _client(connection: Connection) -> DatabricksJobsClient:
    key = (connection.host, connection.token)
    with _lock:
        client = _clients.get(key)
    if client is None:
        if connection.token:
            client = DatabricksJobsClient(connection.host, token=connection.token)
        else:
            from azure.identity import DefaultAzureCredential

            client = DatabricksJobsClient(connection.host, credential=DefaultAzureCredential())
        with _lock:
            _clients[key] = client
    return client


def _databricks(ctx: StepContext) -> dict[str, Any]:
    """The step's own spec field (checked by ``check_databricks`` before the step ran)."""
    return cast(dict[str, Any], cast(dict[str, Any], ctx.step)["databricks"])


def _connect(ctx: StepContext, handle: dict[str, Any] | None = None) -> DatabricksJobsClient:
    databricks = _databricks(ctx)
    compute = databricks.get("compute") or "databricks"
    connection = connection_for(compute, databricks.get("host"))
    if handle and handle.get("host") and handle["host"] != connection.host:
        raise AmliteError(f"step {ctx.name!r}: its Databricks run {handle.get('run_id')} is on {handle['host']}, "
                          f"but compute {compute!r} now connects to {connection.host}")
    return _client(connection)


class DatabricksPoller:
    """The ``Poller`` of DatabricksStep (``engine/poll_step.py``)."""

    def schedule(self) -> tuple[float, float]:
        settings = databricks_settings()
        if settings.problems:
            raise AmliteError("; ".join(settings.problems))
        return settings.poll_first_seconds, settings.poll_max_seconds

    def timeout_seconds(self, ctx: StepContext) -> float | None:
        """amlite's own limit: Databricks' ``timeout_seconds`` plus one poll, so Databricks' TIMEDOUT is seen first."""
        limit = (_task_fields(ctx.step) or {}).get("timeout_seconds")
        return float(limit) + databricks_settings().poll_max_seconds if limit else None

    def start(self, ctx: StepContext) -> Started:
        names = ctx.step.get("input_names") or {}
        data = {names.get(d, d): storage_url(ctx, loc) for d, loc in ctx.inputs.items()}
        data.update({d: storage_url(ctx, ctx.output_location(d)) for d in ctx.step["outputs"]})
        client = _connect(ctx)
        spec_task = _databricks(ctx)["task"]
        folder = upload_snapshot(ctx, client) if spec_task.get("python_script_name") else None
        task = _task(spec_task, lambda token: ctx.resolve(token, {}), data, folder)
        run_name = _databricks(ctx).get("run_name") or f"{ctx.run['experiment']}/{ctx.run_id}/{ctx.name}"
        run_id = client.submit(task, run_name, idempotency_token=idempotency_token(ctx.run_id, ctx.name),
                               timeout_seconds=task.timeout_seconds)
        jobs_task = task.as_jobs_task()
        kind = next(k for k in ("notebook_task", "spark_python_task", "spark_jar_task") if k in jobs_task)
        return Started({"run_id": run_id, "host": client.host},
                       f"[amlite] submitted Databricks run {run_id} ({kind}) to {client.host} as {run_name!r}; "
                       f"its parameters: {jobs_task[kind].get('base_parameters') or jobs_task[kind].get('parameters')}")

    def poll(self, ctx: StepContext, handle: dict[str, Any]) -> PollAnswer:
        client = _connect(ctx, handle)
        state = client.get_state(int(handle["run_id"]))
        fields = {"databricks_run": {"run_id": state.run_id, "run_page_url": state.run_page_url,
                                     "life_cycle_state": state.life_cycle_state, "result_state": state.result_state}}
        if not state.is_terminal:
            return PollAnswer(state.status, state.describe(), fields=fields)
        text, error = "", None
        try:
            output = client.get_output(state.run_id, state.task_run_id)
            text, error = output.as_log_text(), output.error
        except AmliteError as exc:  # the state decides the step; a missing output is only noted
            text = f"[amlite] the driver's output could not be read: {exc}"
        message = state.describe() + (f"; {error}" if error and state.status != RunStatus.FINISHED else "")
        return PollAnswer(state.status, message, log=text, fields=fields)

    def cancel(self, ctx: StepContext, handle: dict[str, Any]) -> None:
        _connect(ctx, handle).cancel(int(handle["run_id"]))


POLLER = DatabricksPoller()

__all__ = ["POLLER", "DatabricksPoller", "check_databricks", "storage_url"]
