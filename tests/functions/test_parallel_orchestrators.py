"""The ParallelRunStep orchestrators on the dev host's Durable engine, with a stand-in slice activity.

What is pinned here is scheduling, not storage: slots are refilled as soon as
any slice ends (even out of order, which the extension's in-order replay of
actions would otherwise serialise), never more than the concurrency run at
once, and a chunk never schedules more than its task budget.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import function_app
from amlite_devhost.app_loader import index_app
from amlite_devhost.durable import DurableEngine
from amlite_devhost.durable.history import EventType
from pipeline_core.parallel.summary import chunk_start, new_summary

PER_BATCH = 0.02


class FakeSlices:
    """``prs_run_slice`` that sleeps per mini-batch (the first slice runs slow) and records its interval."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.intervals: list[tuple[float, float, int, int]] = []

    def __call__(self, piece: dict[str, Any]) -> dict[str, Any]:
        start, end = int(piece["start"]), int(piece["end"])
        began = time.monotonic()
        time.sleep((end - start) * PER_BATCH * (2 if start == 0 else 1))
        with self.lock:
            self.intervals.append((began, time.monotonic(), start, end))
        n = end - start
        return {"start": start, "end": end, "next": end, "status": "done", "completed": n, "succeeded_batches": n,
                "failed_batches": 0, "retried_batches": 0, "items": n, "succeeded_items": n, "failed_items": 0,
                "timed_batches": n, "batch_seconds": n * PER_BATCH}

    def peak(self, after: float = 0.0) -> int:
        """The most slices that ran at once at some moment after ``after``."""
        edges = sorted([(b, 1) for b, _, _, _ in self.intervals] + [(e, -1) for _, e, _, _ in self.intervals],
                       key=lambda x: (x[0], x[1]))
        level = best = 0
        for at, step in edges:
            level += step
            if at > after:
                best = max(best, level)
        return best


def _engine(fake: FakeSlices) -> DurableEngine:
    app = index_app(function_app.app)
    return DurableEngine(app.orchestrators, {"prs_run_slice": fake}, max_workers=8)


def test_a_chunk_refills_each_slot_as_soon_as_a_slice_ends() -> None:
    fake = FakeSlices()
    summary = chunk_start(new_summary({"batches": 60, "limits": {}}))
    job = {"run_id": "r", "step": "s", "ranges": [[0, 60]], "concurrency": 2, "chunk_tasks": 64, "summary": summary}
    with _engine(fake) as engine:
        began = time.monotonic()
        iid = engine.start_new("parallel_batches", input=job)
        status = engine.wait_for_completion(iid, timeout=30)
        wall = time.monotonic() - began
        history = engine.history(iid)
    assert status.output["completed"] == 60 and status.output["remaining"] == []
    assert sorted(i for _, _, s, e in fake.intervals for i in range(s, e)) == list(range(60))
    assert fake.peak() == 2
    # Slice 0 is slow, so it ends while the other slot is on its third slice. Without the refill timer
    # the extension would start slice 0's successor only once that slice ended, and from then on one
    # slice at a time: the two slots must still overlap after slice 0.
    slow_end = next(e for _, e, s, _ in fake.intervals if s == 0)
    assert fake.peak(after=slow_end) == 2, sorted(fake.intervals)
    busy = sum(e - b for b, e, _, _ in fake.intervals)
    assert wall < busy / 2 + 0.3, (wall, busy)
    timers = sum(1 for e in history if e["EventType"] == EventType.TIMER_CREATED)
    activities = sum(1 for e in history if e["EventType"] == EventType.TASK_SCHEDULED)
    assert timers < activities


def test_a_chunk_stops_at_its_task_budget() -> None:
    fake = FakeSlices()
    summary = chunk_start(new_summary({"batches": 1000, "limits": {}}))
    job = {"run_id": "r", "step": "s", "ranges": [[0, 1000]], "concurrency": 3, "chunk_tasks": 5, "slice_max": 4,
           "summary": summary}
    with _engine(fake) as engine:
        iid = engine.start_new("parallel_batches", input=job)
        status = engine.wait_for_completion(iid, timeout=60)
        history = engine.history(iid)
    assert sum(1 for e in history if e["EventType"] == EventType.TASK_SCHEDULED) == 5
    done = status.output["completed"]
    assert status.output["remaining"] == [[done, 1000]]
    assert fake.peak() <= 3
