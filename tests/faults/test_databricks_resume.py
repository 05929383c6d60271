"""A dev host killed (``kill -9``) while it polls a Databricks run: the next host resumes the polling.

The ``poll_step`` sub-orchestration's history is in the storage account, so the next
host replays it: the Databricks run is not submitted again (its start is in the
history), the durable timers and polls go on, and the step finishes with the
driver's output in its log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_process import HostProcess, host_env, run_status, step_row, submit, until
from support.databricks_jobs import Behaviour, JobsServer

from pipeline_core import Pipeline, Workspace
from pipeline_core.engine.services import services_for
from pipeline_core.pipeline.steps import DatabricksStep

pytestmark = pytest.mark.timeout(120)
SCRIPT = "dbfs:/jobs/long.py"


@pytest.fixture
def hosts() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    try:
        yield started
    finally:
        for host in started:
            host.stop()
            host.reap()


def test_a_killed_host_polling_a_databricks_run_is_resumed_without_a_second_submit(
        azurite: str, tmp_path: Path, hosts: list[HostProcess]) -> None:
    ws = Workspace(storage=azurite)
    with JobsServer(token="dapi-fault", realtime=True) as server:
        server.api.behave(SCRIPT, Behaviour(pending_seconds=0.5, run_seconds=8, logs="long job done\n"))
        env = {**host_env(azurite), "AMLITE_DATABRICKS_HOST_DBX": server.url, "AMLITE_DATABRICKS_TOKEN_DBX": "dapi-fault",
               "AMLITE_DATABRICKS_POLL_FIRST_SECONDS": "0.3", "AMLITE_DATABRICKS_POLL_MAX_SECONDS": "0.6"}
        step = DatabricksStep("long", python_script_path=SCRIPT, existing_cluster_id="c", compute_target="dbx",
                              allow_reuse=False)
        published = Pipeline(ws, [step]).publish(name=f"fault-dbx-{uuid.uuid4().hex[:8]}")
        first = HostProcess(env, tmp_path / "host.log").start()
        hosts.append(first)
        answer = submit(first, published)
        assert answer.status_code == 202, answer.text
        run_id = answer.json()["Id"]
        until(lambda: len(server.api.calls("runs/get")) >= 2, 30, "the first host polls the Databricks run")

        first.kill()
        polls_before = len(server.api.calls("runs/get"))
        second = HostProcess(env, tmp_path / "host.log").start()
        hosts.append(second)
        until(lambda: run_status(ws, run_id) in ("Finished", "Failed", "Canceled"), 60, "the run ended")
        assert run_status(ws, run_id) == "Finished", second.output()
        assert len(server.api.calls("runs/submit")) == 1 and len(server.api.runs) == 1  # not submitted again
        assert len(server.api.calls("runs/get")) > polls_before  # the second host went on polling
        row = step_row(ws, run_id, "long")
        assert row["status"] == "Finished" and int(row.get("attempt") or 0) == 1
        assert row["remote"]["handle"]["run_id"] == next(iter(server.api.runs))
        log = services_for(ws.storage).account.container("logs").download_blob(f"{run_id}/long/std_log.txt")
        text = log.readall().decode()
        assert "submitted Databricks run" in text and "long job done" in text  # both hosts' lines, one log
