"""Running a ParallelRunStep in this process without Durable: prepare, slices on threads, finish.

A stand-in for the Durable orchestrators (``functions/parallel.py``) with the
same activities and the same pure scheduling (``fanout.StepFanout`` and
``ChunkFanout``), so what this driver shows is what the Functions app does:
lanes run their chunks one after another, each chunk keeps at most its share
of the concurrency (plus the queued lookahead) in flight, scheduling stops once a limit that can only grow
is exceeded or the run is canceled, and ``prs_finish`` decides the outcome.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from pipeline_core.engine.activities import is_cancel_requested
from pipeline_core.engine.services import Services
from pipeline_core.parallel.activities import prs_finish, prs_prepare, prs_run_slice
from pipeline_core.parallel.fanout import ChunkFanout, StepFanout, failed_slice
from pipeline_core.parallel.worker import cancel_pool

log = logging.getLogger("amlite.parallel")


def _safe_slice(services: Services, run_id: str, step: str, piece: dict[str, Any]) -> dict[str, Any]:
    try:
        return prs_run_slice(services, run_id, step, piece["start"], piece["end"], piece.get("carried"))
    except Exception as exc:  # the activity promises not to raise; if it does, its mini-batches failed
        log.exception("mini-batches %s-%s of step %s raised", piece["start"], piece["end"] - 1, step)
        return failed_slice(piece["start"], piece["end"], f"{type(exc).__name__}: {exc}")


def _run_chunk(services: Services, run_id: str, step: str, job: dict[str, Any],
               poll_seconds: float) -> dict[str, Any]:
    chunk = ChunkFanout(job)
    running: dict[Future[dict[str, Any]], dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=chunk.slots, thread_name_prefix=f"prs-{step[:12]}") as pool:
        while True:
            for piece in chunk.to_start():
                running[pool.submit(_safe_slice, services, run_id, step, piece)] = piece
            if not running:
                return chunk.result()
            done, _ = wait(list(running), timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                chunk.finished(running.pop(future), future.result())
            if not chunk.summary["canceled"] and _cancel_requested(services, run_id, step):
                chunk.summary = {**chunk.summary, "canceled": True}
                cancel_pool((services.storage, run_id, step))


def _cancel_requested(services: Services, run_id: str, step: str) -> bool:
    """A cancel check that storage could not answer is not a cancel: the slices go on, the next poll asks again."""
    try:
        return is_cancel_requested(services, run_id, step)
    except Exception as exc:
        log.warning("cancel check for step %s of run %s failed (%s); asking again", step, run_id, exc)
        return False


def run_parallel_step(services: Services, run_id: str, step: str, poll_seconds: float = 1.0) -> dict[str, Any]:
    prepared = prs_prepare(services, run_id, step)
    if prepared.get("done"):
        return dict(prepared["result"])
    fanout = StepFanout(prepared)
    running: dict[Future[dict[str, Any]], int] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(fanout.lanes)), thread_name_prefix="prs-lane") as lanes:
        while True:
            for lane, job in fanout.to_start():
                running[lanes.submit(_run_chunk, services, run_id, step, job, poll_seconds)] = lane
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                fanout.finished(running.pop(future), future.result())
    return prs_finish(services, run_id, step, fanout.summary)
