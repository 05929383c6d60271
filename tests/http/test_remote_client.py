"""The SDK against a remote workspace: ``Workspace(endpoint=...)`` talks REST to the Functions app.

The repo's app is served in process by ``DevHost`` on a free loopback port
(``AMLITE_AUTH=none``) over Azurite; the workspace has that URL as its endpoint
and Azurite as its storage, exactly what a user's config.json would name. The
retry tests use a tiny loopback HTTP server that answers what each test scripts.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from amlite_local.host import DevHost
from pipeline_core import (
    Experiment,
    Pipeline,
    PipelineData,
    PipelineEndpoint,
    PipelineParameter,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.client import (
    RemoteConflictError,
    RemoteError,
    RemoteNotFoundError,
    RemoteParameterError,
    RemoteServerError,
    RestClient,
)
from pipeline_core.client.runs import RestRunSource
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.pipeline.core.run import PipelineRun

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]

STEP_ONE = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--greeting"); p.add_argument("--out"); a = p.parse_args()
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.out, "msg.txt").write_text(a.greeting + " from step one")
print("step one wrote:", a.greeting)
"""
STEP_TWO = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--inp"); a = p.parse_args()
print("step two got:", pathlib.Path(a.inp, "msg.txt").read_text())
"""
SLEEPER = """
import time
print("sleeping", flush=True)
time.sleep(60)
"""


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def remote_host(azurite: str) -> Iterator[DevHost]:
    """The repo's Functions app on a free loopback port, AMLITE_AUTH=none, over the session's Azurite."""
    saved = {name: os.environ.get(name) for name in ("AMLITE_STORAGE", "AMLITE_AUTH", "AMLITE_ENDPOINT")}
    os.environ.update({"AMLITE_STORAGE": azurite, "AMLITE_AUTH": "none"})
    os.environ.pop("AMLITE_ENDPOINT", None)
    host = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, load_settings=False)
    try:
        host.start()
        yield host
    finally:
        host.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def ws(remote_host: DevHost, azurite: str) -> Workspace:
    return Workspace(endpoint=remote_host.base_url, storage=azurite)


def two_step(ws: Workspace, src: Path) -> Pipeline:
    """step one writes ``<greeting> from step one`` to its output; step two prints what it reads."""
    (src / "one.py").write_text(STEP_ONE)
    (src / "two.py").write_text(STEP_TWO)
    message = PipelineData("message", datastore=ws.get_default_datastore())
    one = PythonScriptStep("one.py", name="one", source_directory=str(src), outputs=[message],
                           arguments=["--greeting", PipelineParameter("greeting", "hello"), "--out", message])
    two = PythonScriptStep("two.py", name="two", source_directory=str(src), inputs=[message],
                           arguments=["--inp", message])
    return Pipeline(ws, [one, two])


# -- the remote SDK path ------------------------------------------------------------------------
def test_submit_unpublished_pipeline_streams_logs(ws: Workspace, source_dir: Path, experiment_name: str,
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    greeting = f"hi-{uuid.uuid4().hex[:8]}"  # fresh parameters: nothing to reuse, so both steps log
    run = Experiment(ws, experiment_name).submit(two_step(ws, source_dir), pipeline_parameters={"greeting": greeting},
                                                 tags={"origin": "remote-test"})
    assert isinstance(run._source, RestRunSource)

    assert run.wait_for_completion(show_output=True, timeout_seconds=60) == "Finished"
    out = capsys.readouterr().out
    assert f"PipelineRunId: {run.id}" in out
    assert f"two | step two got: {greeting} from step one" in out
    assert f"one | step one wrote: {greeting}" in out
    assert "step one: Finished" in out and f"PipelineRun {run.id} status: Finished" in out

    details = run.get_details()
    assert details["runSource"] == "SDK" and details["parameters"] == {"greeting": greeting}
    assert run.get_tags() == {"origin": "remote-test"}
    assert [s.name for s in run.get_steps()] == ["two", "one"]  # newest start first, as AML
    (two,) = run.find_step_run("two")
    assert two.get_status() == "Finished" and f"step two got: {greeting}" in two.get_job_log()
    (one,) = run.find_step_run("one")
    folder = one.get_output_data("message").download(str(tmp_path), show_progress=False)
    assert (Path(folder) / "msg.txt").read_text() == f"{greeting} from step one"
    assert run.id in [r.id for r in Experiment(ws, experiment_name).get_runs()]


def test_publish_remotely_and_submit_published(ws: Workspace, source_dir: Path, experiment_name: str) -> None:
    published = two_step(ws, source_dir).publish(name=f"remote-{uuid.uuid4().hex[:8]}", version="1")
    assert published.endpoint == f"{ws.endpoint}/api/pipelines/{published.id}/runs"
    assert PublishedPipeline.get(ws, published.id).status == "Active"
    assert published.id in [p.id for p in PublishedPipeline.list(ws)]

    greeting = f"pub-{uuid.uuid4().hex[:8]}"
    run = published.submit(ws, experiment_name, pipeline_parameters={"greeting": greeting})
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    assert run.get_details()["pipelineId"] == published.id

    endpoint = PipelineEndpoint.publish(ws, f"remote-ep-{uuid.uuid4().hex[:8]}", "remote", published)
    again = endpoint.submit(experiment_name, pipeline_parameters={"greeting": greeting})
    assert again.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    assert all(step.is_reused for step in again.get_steps())  # same graph, same parameters

    published.disable()
    assert published.status == "Disabled"
    with pytest.raises(RemoteConflictError, match="is Disabled") as refused:
        published.submit(ws, experiment_name)
    assert refused.value.status == 409 and refused.value.code == "PipelineDisabled"


def test_cancel_remotely(ws: Workspace, source_dir: Path, experiment_name: str) -> None:
    (source_dir / "sleep.py").write_text(SLEEPER)
    step = PythonScriptStep("sleep.py", name="sleep", source_directory=str(source_dir), allow_reuse=False)
    run = Experiment(ws, experiment_name).submit(Pipeline(ws, [step]))
    deadline = time.monotonic() + 30
    while run.find_step_run("sleep")[0].get_status() != "Running":
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.1)
    started = time.monotonic()
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=30, raise_on_error=False) == "Canceled"
    assert time.monotonic() - started < 15
    run.cancel()  # canceling an ended run is a no-op, as locally


def test_parallel_run_step_progress_over_rest(ws: Workspace, source_dir: Path, experiment_name: str) -> None:
    """A ParallelRunStep's counts reach a remote caller: the StepRun entity's Progress and StepRun.get_details()."""
    from pipeline_core import Dataset, ParallelRunConfig, ParallelRunStep

    (source_dir / "score.py").write_text(
        "import os\n\ndef init():\n    pass\n\n\ndef run(mini_batch):\n"
        "    return [os.path.basename(p) for p in mini_batch if not p.endswith('bad.txt')]\n")
    store = ws.get_default_datastore()
    prefix = f"prs-remote-{uuid.uuid4().hex[:8]}"
    for name in ("a.txt", "b.txt", "bad.txt", "c.txt", "d.txt"):
        store._container.upload_blob(f"{prefix}/{name}", b"x", overwrite=True)
    files = Dataset.File.from_files(path=(store, f"{prefix}/**"))
    config = ParallelRunConfig(source_directory=str(source_dir), entry_script="score.py", mini_batch_size="2",
                               error_threshold=5, output_action="append_row", environment=None,
                               compute_target=None, node_count=1, process_count_per_node=1)
    step = ParallelRunStep("score-remote", parallel_run_config=config, inputs=[files.as_named_input("files")],
                           output=PipelineData("scores", datastore=store))
    run = Experiment(ws, experiment_name).submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"

    entity = ws.backend.client.list_steps(run.id)[0]  # type: ignore[attr-defined]
    assert entity["Progress"] == {"Total": 5, "Processed": 5, "Succeeded": 4, "Failed": 1, "MiniBatches": 3,
                                  "FinishedMiniBatches": 3, "FailedMiniBatches": 0}
    details = run.find_step_run("score-remote")[0].get_details()
    assert (details["progress"]["processed"], details["progress"]["failed"]) == (5, 1)


def test_server_refusals_surface_as_amlite_errors(ws: Workspace, source_dir: Path, experiment_name: str) -> None:
    pipeline = two_step(ws, source_dir)
    with pytest.raises(RemoteParameterError, match="unknown pipeline parameter 'nope'") as bad:
        Experiment(ws, experiment_name).submit(pipeline, pipeline_parameters={"nope": 1})
    assert isinstance(bad.value, AmliteError) and bad.value.status == 400
    assert bad.value.code == "InvalidParameterAssignment"

    with pytest.raises(NotFoundError, match="run 'no-such-run' was not found") as missing:
        PipelineRun(Experiment(ws, experiment_name), "no-such-run").get_status()
    assert isinstance(missing.value, RemoteNotFoundError) and missing.value.status == 404


def test_spec_submit_requires_uploaded_snapshots(ws: Workspace, source_dir: Path, experiment_name: str) -> None:
    from pipeline_core.client import RemoteBadRequestError
    from pipeline_core.client.bodies import spec_document

    (source_dir / "fresh.py").write_text(f"print('never uploaded {uuid.uuid4().hex}')\n")
    spec = Pipeline(ws, [PythonScriptStep("fresh.py", name="fresh", source_directory=str(source_dir))]).spec()
    with pytest.raises(RemoteBadRequestError, match="upload the snapshot first") as missing:
        ws.backend.client.submit_spec(  # type: ignore[attr-defined]
            {"ExperimentName": experiment_name, "PipelineSpec": spec_document(spec)})
    assert missing.value.code == "SnapshotMissing"
    with pytest.raises(RemoteBadRequestError, match="PipelineSpec is required"):
        ws.backend.client.submit_spec({"ExperimentName": experiment_name})  # type: ignore[attr-defined]


# -- the transport: retries and error bodies, against a scripted server --------------------------------
class Scripted:
    """A loopback server answering each request with the next scripted (status, body, headers)."""

    def __init__(self, answers: list[tuple[int, Any, dict[str, str]]]):
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                scripted.requests.append((self.command, self.path, dict(self.headers)))
                status, body, headers = scripted.answers.pop(0) if len(scripted.answers) > 1 else scripted.answers[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    servers: list[Scripted] = []
    yield servers
    for server in servers:
        server.close()


def _busy(status: int = 503, retry_after: str | None = "0") -> tuple[int, Any, dict[str, str]]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return status, {"error": {"code": "Busy", "message": "the app is warming up", "details": []}}, headers


def test_retries_503_then_succeeds(scripted: list[Scripted]) -> None:
    server = Scripted([_busy(), _busy(429, None), (202, {"Id": "r1"}, {})])
    scripted.append(server)
    waits: list[float] = []
    client = RestClient(server.url, backoff=0.01, sleep=waits.append)
    assert client.post_json("/api/runs", {"ExperimentName": "x"}, idempotent=True) == {"Id": "r1"}
    assert len(server.requests) == 3 and len(waits) == 2
    assert waits[0] == 0.0 and 0 < waits[1] <= 0.02  # Retry-After first, then jittered backoff
    keys = {headers["Idempotency-Key"] for _, _, headers in server.requests}
    assert len(keys) == 1  # every retry repeats the same key: the server creates one run


def test_retries_give_up_with_the_servers_message(scripted: list[Scripted]) -> None:
    server = Scripted([_busy()])
    scripted.append(server)
    client = RestClient(server.url, max_retries=2, sleep=lambda _: None)
    with pytest.raises(RemoteServerError, match="the app is warming up") as failed:
        client.get_json("/api/runs/r1")
    assert failed.value.status == 503 and "after 3 attempts" in str(failed.value)
    assert len(server.requests) == 3


def test_error_body_and_auth_header(scripted: list[Scripted]) -> None:
    server = Scripted([(400, {"error": {"code": "InvalidField", "message": "ExperimentName is required (a string)",
                                        "details": [{"target": "ExperimentName"}]}}, {})])
    scripted.append(server)

    class Token:
        def get_authentication_header(self) -> dict[str, str]:
            return {"Authorization": "Bearer t0k3n"}

    ws = Workspace(endpoint=server.url + "/api", storage="UseDevelopmentStorage=true", auth=Token())
    with pytest.raises(RemoteError, match=r"^ExperimentName is required \(a string\)$") as bad:
        ws.backend.client.submit_spec({})  # type: ignore[attr-defined]
    assert bad.value.code == "InvalidField" and bad.value.details == [{"target": "ExperimentName"}]
    assert len(server.requests) == 1  # a 400 is never retried
    method, path, headers = server.requests[0]
    assert (method, path) == ("POST", "/api/runs") and headers["Authorization"] == "Bearer t0k3n"
