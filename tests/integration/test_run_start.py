"""A run's start (the ``start_run`` activity) in the process that created the run moves on from the row it
created, without reading it; a row that changed in between (a cancel, an end) still decides what happens."""

from __future__ import annotations

import uuid

import pytest

from pipeline_core.engine.activities import start_run
from pipeline_core.engine.services import Services
from pipeline_core.engine.submit import create_run_row
from pipeline_core.pipeline.core.pipeline import Pipeline
from pipeline_core.pipeline.steps import PythonScriptStep
from pipeline_core.storage.run_store import CANCEL_REQUESTED, CANCELED, QUEUED, RUN_ROW, RUNNING, RunStore

pytestmark = pytest.mark.integration


def _created(workspace, source_dir) -> tuple[Services, str]:  # type: ignore[no-untyped-def]
    """A run created Queued by this process's store, as a submit that starts it at once creates it."""
    (source_dir / "a.py").write_text("print('a')\n")
    pipeline = Pipeline(workspace, [PythonScriptStep("a.py", name="a", source_directory=str(source_dir))])
    services = Services(workspace.storage)
    row = create_run_row(services, pipeline.spec(), f"start-{uuid.uuid4().hex[:8]}", status=QUEUED)
    return services, str(row["PartitionKey"])


def test_the_start_of_a_run_created_here_moves_it_to_running(workspace, source_dir) -> None:  # type: ignore[no-untyped-def]
    services, run_id = _created(workspace, source_dir)
    answer = start_run(services, run_id)
    assert answer["done"] is False and answer["deps"] == {"a": []} and answer["cancel_requested"] is False
    assert services.runs.get_run(run_id)["status"] == RUNNING


def test_a_cancel_between_creation_and_start_is_seen(workspace, source_dir) -> None:  # type: ignore[no-untyped-def]
    services, run_id = _created(workspace, source_dir)
    RunStore(workspace.account).transition(run_id, RUN_ROW, CANCEL_REQUESTED)  # another process asks
    answer = start_run(services, run_id)
    assert answer["done"] is False and answer["cancel_requested"] is True
    assert services.runs.get_run(run_id)["status"] == CANCEL_REQUESTED


def test_a_run_ended_before_its_start_stays_ended(workspace, source_dir) -> None:  # type: ignore[no-untyped-def]
    services, run_id = _created(workspace, source_dir)
    RunStore(workspace.account).transition(run_id, RUN_ROW, CANCELED)
    answer = start_run(services, run_id)
    assert answer["done"] is True and answer["status"] == CANCELED
    assert services.runs.get_run(run_id)["status"] == CANCELED
