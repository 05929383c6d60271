"""A run of a 200-step pipeline with a 10,000-mini-batch ParallelRunStep in it, for the scale test and the bench.

The run is created as every run is (``engine.submit.create_run``: spec and
snapshots uploaded, run and step rows written) but not started: running 200
processes would measure the engine, not the page. The test then writes step
statuses and the mini-batch ledger through the same stores the engine uses,
so the page reads exactly what a real run of that size leaves behind.
"""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

from pipeline_core import Pipeline, PipelineData, PythonScriptStep, Workspace
from pipeline_core.engine.services import services_for
from pipeline_core.engine.submit import create_run
from pipeline_core.parallel.batches import FAILED, SUCCEEDED, BatchStore, transaction_groups
from pipeline_core.storage.run_store import FINISHED, RUNNING, step_key, utcnow

PRS_STEP = "score_010"


def big_pipeline(ws: Workspace, steps: int = 200, seed: int = 7) -> Pipeline:
    """``steps`` script steps; each reads the outputs of one or two of the twelve before it (a deterministic DAG)."""
    rng = random.Random(seed)
    src = Path(tempfile.mkdtemp(prefix="amlite-big-src-"))
    (src / "step.py").write_text("pass\n")
    outputs = [PipelineData(f"out_{i:03d}", datastore=ws.get_default_datastore()) for i in range(steps)]
    built = []
    for i in range(steps):
        inputs = sorted({outputs[rng.randrange(max(0, i - 12), i)] for _ in range(rng.randint(1, 2))},
                        key=lambda d: d.name) if i else []
        name = PRS_STEP if i == 10 else f"{['load', 'clean', 'feature', 'train', 'score'][i % 5]}_{i:03d}"
        built.append(PythonScriptStep("step.py", name=name, source_directory=str(src), inputs=inputs,
                                      outputs=[outputs[i]], arguments=[a for d in inputs for a in ("--in", d)]
                                      + ["--out", outputs[i]]))
    return Pipeline(ws, built)


def create_big_run(ws: Workspace, experiment: str | None = None, steps: int = 200) -> tuple[str, list[str]]:
    """The run id and its step names in spec order; the run stays NotStarted until the caller moves it."""
    pipeline = big_pipeline(ws, steps)
    services = services_for(ws.storage)
    run_id = create_run(services, pipeline.spec(), experiment or f"big-{uuid.uuid4().hex[:6]}")
    return run_id, [s.name for s in pipeline.steps]


def set_statuses(ws: Workspace, run_id: str, statuses: dict[str, str]) -> None:
    """Move steps (and the run) as the engine would leave them, in batched writes."""
    services = services_for(ws.storage)
    now = utcnow()
    updates: list[tuple[str, dict[str, Any]]] = []
    for name, status in statuses.items():
        fields: dict[str, Any] = {"status": status, "start_time": now}
        if status == FINISHED:
            fields["end_time"] = now
        updates.append((step_key(name), fields))
    services.runs.batch_update(run_id, updates)
    services.runs.update(run_id, "run", {"status": RUNNING, "start_time": now})


def fill_minibatches(ws: Workspace, run_id: str, step: str, batches: int = 10_000, failed_every: int = 37) -> int:
    """A ParallelRunStep's ledger of ``batches`` recorded mini-batches (every ``failed_every``-th failed) and
    its progress on the step row; returns how many failed."""
    services = services_for(ws.storage)
    store = BatchStore(services.account)
    rows = []
    failed = 0
    for index in range(batches):
        bad = index % failed_every == 5
        failed += bad
        rows.append(store.entity(run_id, step, index, {
            "status": FAILED if bad else SUCCEEDED, "tries": 3 if bad else 1, "items": 5,
            "succeeded_items": 0 if bad else 5, "failed_items": 5 if bad else 0,
            "error": f"ValueError: row {index * 5} has no 'amount' column\nTraceback (most recent call last): ..."
            if bad else "", "inputs": json.dumps([f"input/part-{index * 5 + k:05d}.csv" for k in range(5)])}))
    for group in transaction_groups(rows):
        store.record(group)
    services.runs.update(run_id, step_key(step), {
        "step_type": "ParallelRunStep", "status": RUNNING, "start_time": utcnow(),
        "progress": {"total": batches * 5, "processed": batches * 5, "succeeded": (batches - failed) * 5,
                     "failed": failed * 5, "batches": batches, "finished_batches": batches,
                     "failed_batches": failed}})
    return failed
