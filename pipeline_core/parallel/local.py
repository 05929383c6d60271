"""Running a ParallelRunStep in this process: prepare, batches on a thread pool, finish.

A stand-in for the Durable sub-orchestration with the same activities and the
same summary arithmetic, so what the local driver shows is what the Functions
app does: batches are scheduled in index order with at most ``concurrency``
in flight, scheduling stops once ``prs_should_abort`` gives a reason or the
run is canceled, and ``prs_finish`` decides the step's outcome.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from pipeline_core.engine.activities import is_cancel_requested
from pipeline_core.engine.services import Services
from pipeline_core.parallel.activities import prs_finish, prs_prepare, prs_run_batch, prs_should_abort
from pipeline_core.parallel.summary import add_result, new_summary, scheduled
from pipeline_core.parallel.worker import cancel_pool

log = logging.getLogger("amlite.parallel")


def _safe_batch(services: Services, run_id: str, step: str, index: int) -> dict[str, Any]:
    try:
        return prs_run_batch(services, run_id, step, index)
    except Exception as exc:  # the activity promises not to raise; if it does, the batch failed
        log.exception("mini-batch %s of step %s raised", index, step)
        return {"index": index, "status": "failed", "items": 1, "succeeded_items": 0, "failed_items": 1,
                "tries": 1, "error": f"{type(exc).__name__}: {exc}"}


def run_parallel_step(services: Services, run_id: str, step: str, poll_seconds: float = 1.0) -> dict[str, Any]:
    prepared = prs_prepare(services, run_id, step)
    if prepared.get("done"):
        return dict(prepared["result"])
    summary = new_summary(prepared)
    total = int(prepared["batches"])
    slots = max(1, min(int(prepared["concurrency"]), total))
    next_index = 0
    running: dict[Future[dict[str, Any]], int] = {}
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"prs-{step[:12]}") as pool:
        while next_index < total or running:
            stopping = bool(summary["aborted"] or summary["canceled"])
            while not stopping and next_index < total and len(running) < slots:
                running[pool.submit(_safe_batch, services, run_id, step, next_index)] = next_index
                summary = scheduled(summary)
                next_index += 1
            if not running:
                break
            done, _ = wait(list(running), timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                summary = add_result(summary, future.result())
            if summary["aborted"] is None:
                summary = {**summary, "aborted": prs_should_abort(summary)}
            if not summary["canceled"] and is_cancel_requested(services, run_id, step):
                summary = {**summary, "canceled": True}
                cancel_pool((services.storage, run_id, step))
    return prs_finish(services, run_id, step, summary)
