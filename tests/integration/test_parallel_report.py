"""A ParallelRunStep host's reporter: progress and lines while the step runs; lines only once it is being ended."""

from __future__ import annotations

import uuid

import pytest

from pipeline_core.engine.services import services_for
from pipeline_core.execution.logs import LOGS_CONTAINER, log_blob_name
from pipeline_core.parallel.report import Reporter, initial_progress, note
from pipeline_core.storage.run_store import RUNNING, step_key

pytestmark = pytest.mark.integration


def _running_step(azurite: str) -> tuple[str, str]:
    services = services_for(azurite)
    run_id, step = str(uuid.uuid4()), "score"
    services.runs.create_run(run_id, f"report-{uuid.uuid4().hex[:8]}", {"graph_id": "g"}, [(step, {})])
    services.runs.transition(run_id, step_key(step), RUNNING, {"progress": initial_progress(10, 5)})
    note(services, run_id, step, "[amlite] prepared", create=True)
    return run_id, step


def _log(azurite: str, run_id: str, step: str) -> str:
    container = services_for(azurite).account.container(LOGS_CONTAINER)
    return container.download_blob(log_blob_name(run_id, step)).readall().decode()


def test_a_running_steps_reporter_adds_its_counts_to_the_progress(azurite: str) -> None:
    run_id, step = _running_step(azurite)
    reporter = Reporter(services_for(azurite), run_id, step, interval=60)
    reporter.add(["[amlite] mini-batch 3: failed after 3 tries, 0 of 2 items"],
                 {"processed": 4, "succeeded": 2, "failed": 2, "finished_batches": 2, "failed_batches": 1})
    reporter.close()
    progress = services_for(azurite).runs.get_step(run_id, step)["progress"]
    assert (progress["processed"], progress["failed"], progress["finished_batches"]) == (4, 2, 2)
    text = _log(azurite, run_id, step)
    assert "mini-batch 3: failed" in text and "progress: 4 of 10 items processed" in text


def test_a_reporter_of_a_step_being_ended_writes_its_lines_and_leaves_the_row_to_the_end(azurite: str) -> None:
    run_id, step = _running_step(azurite)
    services = services_for(azurite)
    before = services.runs.get_step(run_id, step)
    reporter = Reporter(services, run_id, step, interval=60)
    reporter.add(["[amlite] mini-batch 7: succeeded after 2 tries, 2 of 2 items"],
                 {"processed": 2, "succeeded": 2, "finished_batches": 1})
    reporter.finishing()
    reporter.close()
    after = services.runs.get_step(run_id, step)
    assert after["etag"] == before["etag"]  # not written: the end writes the final counts from the ledger
    text = _log(azurite, run_id, step)
    assert "mini-batch 7: succeeded after 2 tries" in text and "progress:" not in text
