"""A local Databricks Jobs API (2.1/2.2 ``runs/*`` subset) over a real socket, for DatabricksStep tests.

Databricks cannot run here, so this server plays the workspace: it checks
requests as the documented API does (one task kind, one cluster choice,
well-formed libraries, bearer token), and moves each run through the
documented life cycle (PENDING -> RUNNING -> TERMINATING -> TERMINATED, or
INTERNAL_ERROR) on a clock the test advances, so no test sleeps (or, with
``realtime=True``, on the wall clock, for a pipeline whose orchestrator polls
the server between durable timers). What a run
does is chosen per code path (notebook path, Python file, main class) through
``behave``: its outcome, how long it runs, its driver log, its notebook result.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TASK_KINDS = ("notebook_task", "spark_python_task", "spark_jar_task")
WORKSPACE_ID = "1234567890123456"
LIBRARY_KINDS = ("jar", "egg", "whl", "pypi", "maven", "cran", "requirements")


@dataclass
class Behaviour:
    result_state: str = "SUCCESS"          # SUCCESS, FAILED or INTERNAL_ERROR (a platform failure)
    pending_seconds: float = 1.0
    run_seconds: float = 5.0
    logs: str | None = None                # None: the driver prints the parameters it got
    notebook_result: str | None = None
    error: str = "Exception: the job failed"


@dataclass
class SimRun:
    run_id: int
    task_run_id: int
    body: dict[str, Any]
    task: dict[str, Any]
    behaviour: Behaviour
    submitted_at: float
    timeout: float | None
    canceled_at: float | None = None
    cancel_seen: bool = False
    calls: list[str] = field(default_factory=list)


class JobsApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeDatabricks:
    """The workspace's state; ``now`` is the test's clock (``advance`` moves it)."""

    def __init__(self, token: str, realtime: bool = False):
        self.token = token
        self.now = 1_000.0
        self.realtime = realtime
        self._started = time.monotonic()
        self.behaviours: dict[str, Behaviour] = {}
        self.runs: dict[int, SimRun] = {}
        self.by_task_run: dict[int, SimRun] = {}
        self.idempotency: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.files: dict[str, bytes] = {}  # DBFS: absolute path -> content
        self.open_files: dict[int, tuple[str, bytearray]] = {}
        self._next = 100
        self._lock = threading.Lock()

    def behave(self, code_path: str, behaviour: Behaviour) -> None:
        self.behaviours[code_path] = behaviour

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def tick(self) -> None:
        """On the wall clock: the server's time is the seconds since it started (plus any ``advance``)."""
        if self.realtime:
            with self._lock:
                now = time.monotonic()
                self.now += now - self._started
                self._started = now

    def calls(self, route: str) -> list[tuple[str, str]]:
        """The requests made to one Jobs API route (``runs/cancel``)."""
        return [r for r in self.requests if r[1].endswith("/jobs/" + route)]

    # -- the API ----------------------------------------------------------------
    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or len(tasks) != 1:
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", "this server takes exactly one task per run")
        task = tasks[0]
        if not task.get("task_key"):
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", "task_key is required")
        kinds = [k for k in TASK_KINDS if k in task]
        if len(kinds) != 1:
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", f"exactly one task type is required, got {kinds}")
        if ("existing_cluster_id" in task) == ("new_cluster" in task):
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE",
                               "exactly one of existing_cluster_id and new_cluster is required")
        if "new_cluster" in task and not task["new_cluster"].get("spark_version"):
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", "new_cluster.spark_version is required")
        for library in task.get("libraries", []):
            if len(library) != 1 or next(iter(library)) not in LIBRARY_KINDS:
                raise JobsApiError(400, "INVALID_PARAMETER_VALUE", f"invalid library {library}")
        spec = task[kinds[0]]
        code = spec.get("notebook_path") or spec.get("python_file") or spec.get("main_class_name")
        if not code:
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", f"{kinds[0]} names no code to run")
        with self._lock:
            token = body.get("idempotency_token")
            if token and token in self.idempotency:
                return {"run_id": self.idempotency[token]}
            run_id, task_run_id = self._next, self._next + 1
            self._next += 2
            timeout = task.get("timeout_seconds") or body.get("timeout_seconds") or None
            run = SimRun(run_id, task_run_id, body, task, self.behaviours.get(code, Behaviour()), self.now,
                         float(timeout) if timeout else None)
            self.runs[run_id] = run
            self.by_task_run[task_run_id] = run
            if token:
                self.idempotency[token] = run_id
        return {"run_id": run_id}

    def _run(self, run_id: Any) -> SimRun:
        try:
            return self.runs[int(run_id)]
        except (KeyError, TypeError, ValueError):
            raise JobsApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.") from None

    def state(self, run: SimRun) -> dict[str, Any]:
        elapsed = self.now - run.submitted_at
        b = run.behaviour
        if run.canceled_at is not None:
            if not run.cancel_seen:
                run.cancel_seen = True
                return {"life_cycle_state": "TERMINATING", "state_message": "Run cancellation requested"}
            return {"life_cycle_state": "TERMINATED", "result_state": "CANCELED",
                    "state_message": "Run cancelled."}
        if run.timeout is not None and elapsed >= run.timeout and elapsed < b.pending_seconds + b.run_seconds:
            return {"life_cycle_state": "TERMINATED", "result_state": "TIMEDOUT",
                    "state_message": f"Run timed out after {int(run.timeout)} seconds"}
        if elapsed < b.pending_seconds:
            return {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"}
        if elapsed < b.pending_seconds + b.run_seconds:
            return {"life_cycle_state": "RUNNING", "state_message": "In run"}
        if b.result_state == "INTERNAL_ERROR":
            return {"life_cycle_state": "INTERNAL_ERROR", "state_message": "Cluster terminated unexpectedly"}
        message = "" if b.result_state == "SUCCESS" else "Workload failed, see run output for details"
        return {"life_cycle_state": "TERMINATED", "result_state": b.result_state, "state_message": message}

    def get(self, run_id: Any) -> dict[str, Any]:
        run = self._run(run_id)
        state = self.state(run)
        return {"run_id": run.run_id, "run_name": run.body.get("run_name"), "state": state,
                "run_page_url": f"https://adb-1.1.azuredatabricks.net/?o=1#job/1/run/{run.run_id}",
                "tasks": [{"run_id": run.task_run_id, "task_key": run.task["task_key"], "state": state}]}

    def cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._run(body.get("run_id"))
        if run.canceled_at is None and self.state(run).get("life_cycle_state") not in ("TERMINATED",
                                                                                        "INTERNAL_ERROR"):
            run.canceled_at = self.now
        return {}

    # -- DBFS (2.0): the streaming upload a python_script_name's snapshot goes through --------------
    def dbfs_create(self, body: dict[str, Any]) -> dict[str, Any]:
        path = str(body.get("path") or "")
        if not path.startswith("/"):
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", f"Path must be absolute: {path}")
        if path in self.files and not body.get("overwrite"):
            raise JobsApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at {path}")
        with self._lock:
            handle = self._next
            self._next += 1
            self.open_files[handle] = (path, bytearray())
        return {"handle": handle}

    def dbfs_add_block(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            self.open_files[int(body["handle"])][1].extend(base64.b64decode(body.get("data") or ""))
        except (KeyError, ValueError):
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", "unknown handle") from None
        return {}

    def dbfs_close(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            path, data = self.open_files.pop(int(body["handle"]))
        except (KeyError, ValueError):
            raise JobsApiError(400, "INVALID_PARAMETER_VALUE", "unknown handle") from None
        self.files[path] = bytes(data)
        return {}

    def dbfs_status(self, path: Any) -> dict[str, Any]:
        if path in self.files:
            return {"path": path, "is_dir": False, "file_size": len(self.files[path])}
        if any(name.startswith(str(path).rstrip("/") + "/") for name in self.files):
            return {"path": path, "is_dir": True, "file_size": 0}
        raise JobsApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}.")

    def output(self, run_id: Any) -> dict[str, Any]:
        try:
            run = self.by_task_run[int(run_id)]
        except (KeyError, TypeError, ValueError):
            if int(run_id) in self.runs:
                raise JobsApiError(400, "INVALID_PARAMETER_VALUE",
                                   "Retrieving the output of runs with multiple tasks is not supported. "
                                   "Please retrieve the output of each individual task run instead.") from None
            raise JobsApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.") from None
        state = self.state(run)
        b = run.behaviour
        answer: dict[str, Any] = {"metadata": {"run_id": run.task_run_id, "state": state}}
        if state.get("life_cycle_state") not in ("TERMINATED", "INTERNAL_ERROR") or state.get("result_state") == "CANCELED":
            return answer
        kind = next(k for k in TASK_KINDS if k in run.task)
        spec = run.task[kind]
        params = spec.get("base_parameters") or spec.get("parameters") or []
        logs = b.logs if b.logs is not None else f"driver ran {kind} with {json.dumps(params, sort_keys=True)}"
        if kind == "notebook_task":
            answer["notebook_output"] = {"result": b.notebook_result, "truncated": False}
        else:
            answer["logs"] = logs
            answer["logs_truncated"] = False
        if state.get("result_state") not in ("SUCCESS", None) or state.get("life_cycle_state") == "INTERNAL_ERROR":
            answer["error"] = b.error if state.get("result_state") != "TIMEDOUT" else state["state_message"]
            answer["error_trace"] = f"Traceback (most recent call last):\n  ...\n{answer['error']}"
        return answer


def _handler(api: FakeDatabricks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            api.tick()
            api.requests.append((method, url.path))
            try:
                if method == "GET" and url.path == "/.well-known/databricks-config":  # public discovery document
                    host = f"http://{self.headers.get('Host')}"
                    self._answer(200, {"oidc_endpoint": f"{host}/oidc", "workspace_id": WORKSPACE_ID,
                                       "cloud": "azure"})
                    return
                workspace = self.headers.get("X-Databricks-Workspace-Id")
                if workspace not in (None, WORKSPACE_ID):
                    raise JobsApiError(403, "PERMISSION_DENIED", f"workspace {workspace} is not this workspace")
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    raise JobsApiError(401, "UNAUTHENTICATED", "Invalid access token.")
                prefix = next((p for p in ("/api/2.1/jobs/", "/api/2.2/jobs/", "/api/2.0/")
                               if url.path.startswith(p)), None)
                if prefix is None:
                    raise JobsApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {url.path}'")
                route = url.path[len(prefix):]
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if method == "POST" else {}
                handlers = {("POST", "runs/submit"): lambda: api.submit(body),
                            ("GET", "runs/get"): lambda: api.get(query.get("run_id")),
                            ("POST", "runs/cancel"): lambda: api.cancel(body),
                            ("GET", "runs/get-output"): lambda: api.output(query.get("run_id")),
                            ("POST", "dbfs/create"): lambda: api.dbfs_create(body),
                            ("POST", "dbfs/add-block"): lambda: api.dbfs_add_block(body),
                            ("POST", "dbfs/close"): lambda: api.dbfs_close(body),
                            ("GET", "dbfs/get-status"): lambda: api.dbfs_status(query.get("path"))}
                handler = handlers.get((method, route))
                if handler is None:
                    raise JobsApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {url.path}'")
                self._answer(200, handler())
            except JobsApiError as exc:
                self._answer(exc.status, {"error_code": exc.code, "message": exc.message})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


class JobsServer:
    """``with JobsServer(token) as server:`` serves ``server.api`` on ``server.url`` (127.0.0.1, a free port)."""

    def __init__(self, token: str = "dapi-test-token", realtime: bool = False):
        self.api = FakeDatabricks(token, realtime)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.api))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> JobsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
