"""The Databricks Jobs client against a local Jobs API server over a real socket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from support.databricks_jobs import Behaviour, JobsServer

from pipeline_core.databricks import (
    DatabricksJobsClient,
    DatabricksTask,
    jar_library,
    maven_library,
    pypi_library,
)
from pipeline_core.databricks.client import AZURE_DATABRICKS_RESOURCE
from pipeline_core.errors import AmliteError, NotFoundError

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1}


@pytest.fixture
def server() -> Iterator[JobsServer]:
    with JobsServer() as running:
        yield running


@pytest.fixture
def client(server: JobsServer) -> DatabricksJobsClient:
    return DatabricksJobsClient(server.url, token=server.api.token, retry_timeout_seconds=5)


def test_notebook_run_goes_pending_running_finished_and_returns_its_result(server, client) -> None:
    server.api.behave("/Shared/prep", Behaviour(pending_seconds=2, run_seconds=3, notebook_result="rows=42"))
    task = DatabricksTask(notebook_path="/Shared/prep", notebook_params={"date": "2026-12-01", "n": 3},
                          existing_cluster_id="0101-abc")
    run_id = client.submit(task, "pipeline step prep")
    sent = server.api.runs[run_id].task
    assert sent["notebook_task"] == {"notebook_path": "/Shared/prep", "base_parameters": {"date": "2026-12-01", "n": "3"}}
    assert sent["existing_cluster_id"] == "0101-abc"
    seen = [client.get_state(run_id).status]
    for _ in range(3):
        server.api.advance(2)
        seen.append(client.get_state(run_id).status)
    assert seen == ["NotStarted", "Running", "Running", "Finished"]
    assert client.get_output(run_id).notebook_result == "rows=42"


def test_python_file_with_parameters_and_pypi_libraries_on_a_new_cluster(server, client) -> None:
    task = DatabricksTask(python_script_path="dbfs:/scripts/train.py", python_script_params=["--epochs", 5],
                          libraries=[pypi_library("lightgbm==4.6.0"), pypi_library("x", repo="https://pkgs.example")],
                          new_cluster=CLUSTER)
    run_id = client.submit(task, "train")
    sent = server.api.runs[run_id].task
    assert sent["new_cluster"] == CLUSTER and "existing_cluster_id" not in sent
    assert sent["libraries"] == [{"pypi": {"package": "lightgbm==4.6.0"}},
                                 {"pypi": {"package": "x", "repo": "https://pkgs.example"}}]
    server.api.advance(60)
    state = client.get_state(run_id)
    assert state.is_terminal and state.status == "Finished"
    output = client.get_output(run_id)
    assert output.logs == 'driver ran spark_python_task with ["--epochs", "5"]'


def test_jar_task_with_jar_and_maven_libraries(server, client) -> None:
    task = DatabricksTask(main_class_name="com.example.Etl", jar_params=["in", "out"],
                          libraries=[jar_library("dbfs:/libs/etl.jar"),
                                     maven_library("org.jsoup:jsoup:1.17.2", exclusions=["x:y"])],
                          existing_cluster_id="c")
    run_id = client.submit(task, "etl")
    sent = server.api.runs[run_id].task
    assert sent["spark_jar_task"] == {"main_class_name": "com.example.Etl", "parameters": ["in", "out"]}
    assert sent["libraries"][1] == {"maven": {"coordinates": "org.jsoup:jsoup:1.17.2", "exclusions": ["x:y"]}}


def test_a_failed_run_reports_failed_with_the_driver_error(server, client) -> None:
    server.api.behave("dbfs:/bad.py", Behaviour(result_state="FAILED", error="ValueError: bad column 'x'"))
    run_id = client.submit(DatabricksTask(python_script_path="dbfs:/bad.py", existing_cluster_id="c"), "bad")
    server.api.advance(60)
    state = client.get_state(run_id)
    assert (state.status, state.result_state) == ("Failed", "FAILED")
    output = client.get_output(run_id)
    assert output.error == "ValueError: bad column 'x'" and "ValueError: bad column 'x'" in output.as_log_text()


def test_a_run_past_its_timeout_ends_timed_out_as_a_failure(server, client) -> None:
    server.api.behave("dbfs:/slow.py", Behaviour(run_seconds=600))
    task = DatabricksTask(python_script_path="dbfs:/slow.py", existing_cluster_id="c", timeout_seconds=30)
    run_id = client.submit(task, "slow")
    server.api.advance(10)
    assert client.get_state(run_id).status == "Running"
    server.api.advance(25)
    state = client.get_state(run_id)
    assert (state.status, state.result_state) == ("Failed", "TIMEDOUT") and "timed out" in state.describe()


def test_a_platform_error_is_terminal_and_failed(server, client) -> None:
    server.api.behave("/Shared/x", Behaviour(result_state="INTERNAL_ERROR"))
    run_id = client.submit(DatabricksTask(notebook_path="/Shared/x", existing_cluster_id="c"), "x")
    server.api.advance(60)
    state = client.get_state(run_id)
    assert state.life_cycle_state == "INTERNAL_ERROR" and state.is_terminal and state.status == "Failed"


def test_cancel_is_sent_to_databricks_and_the_run_ends_canceled(server, client) -> None:
    run_id = client.submit(DatabricksTask(notebook_path="/Shared/long", existing_cluster_id="c"), "long")
    server.api.advance(2)
    assert client.get_state(run_id).status == "Running"
    client.cancel(run_id)
    assert ("POST", "/api/2.2/jobs/runs/cancel") in server.api.requests
    assert client.get_state(run_id).life_cycle_state == "TERMINATING"
    state = client.get_state(run_id)
    assert (state.status, state.result_state) == ("Canceled", "CANCELED")
    client.cancel(run_id)  # cancelling an ended run changes nothing
    assert client.get_state(run_id).status == "Canceled"


def test_submit_is_idempotent_and_state_reads_never_wait(server, client) -> None:
    task = DatabricksTask(notebook_path="/Shared/n", existing_cluster_id="c")
    first = client.submit(task, "n", idempotency_token="run-1:step-a")
    assert client.submit(task, "n", idempotency_token="run-1:step-a") == first
    assert len(server.api.runs) == 1
    started = time.monotonic()
    for _ in range(5):
        client.get_state(first)
    assert time.monotonic() - started < 2.0  # a read is one request, however long the run lasts


def test_unknown_runs_and_bad_tokens_are_named(server, client) -> None:
    with pytest.raises(NotFoundError, match="Run 9999 does not exist"):
        client.get_state(9999)
    wrong = DatabricksJobsClient(server.url, token="dapi-wrong", retry_timeout_seconds=5)
    with pytest.raises(AmliteError, match="refused"):
        wrong.get_state(1)


def test_entra_id_tokens_are_asked_for_the_databricks_resource_and_refreshed(server) -> None:
    class Credential:
        def __init__(self) -> None:
            self.scopes: list[str] = []

        def get_token(self, *scopes: str, **kwargs: object) -> SimpleNamespace:
            self.scopes.extend(scopes)
            return SimpleNamespace(token=server.api.token, expires_on=int(time.time()) + 100)  # inside the margin

    credential = Credential()
    client = DatabricksJobsClient(server.url, credential=credential, retry_timeout_seconds=5)
    run_id = client.submit(DatabricksTask(notebook_path="/Shared/n", existing_cluster_id="c"), "n")
    client.get_state(run_id)
    assert credential.scopes and set(credential.scopes) == {f"{AZURE_DATABRICKS_RESOURCE}/.default"}
    assert len(credential.scopes) >= 2  # a token this close to expiry is not reused


def test_bad_tasks_are_refused_before_any_request() -> None:
    with pytest.raises(AmliteError, match="exactly one of notebook_path"):
        DatabricksTask(notebook_path="/a", python_script_path="b.py", existing_cluster_id="c")
    with pytest.raises(AmliteError, match="exactly one of existing_cluster_id and new_cluster"):
        DatabricksTask(notebook_path="/a")
    with pytest.raises(AmliteError, match="needs the JAR"):
        DatabricksTask(main_class_name="A", existing_cluster_id="c")
    with pytest.raises(AmliteError, match="not a Jobs API library"):
        DatabricksTask(notebook_path="/a", existing_cluster_id="c", libraries=[{"zip": "x"}])
    with pytest.raises(AmliteError, match="not a URL"):
        DatabricksJobsClient("adb-1.azuredatabricks.net", token="t")


def test_poll_delays_back_off_to_a_minute() -> None:
    from pipeline_core.databricks import poll_delay

    assert [poll_delay(n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert poll_delay(10_000) == 60
