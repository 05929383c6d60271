"""The generic CHILD_RUNS sub-orchestrator on the dev host's Durable engine (azure-functions-durable's replay).

Stand-in activities play the kind's decisions, so what is pinned is the orchestration: children
are started as the plan says, at most as many at once as it allows, a durable timer makes it ask
again while children run (a policy judging them), and the step ends through ``child_runs_finish``
with the plan's reason once nothing is left.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import function_app
from amlite_devhost.app_loader import index_app
from amlite_devhost.durable import DurableEngine
from amlite_devhost.durable.history import EventType


class FakeSearch:
    """A search of ``total`` children at ``concurrency``; child ``c2`` runs long until the plan stops it."""

    def __init__(self, total: int, concurrency: int, slow: str | None = None, wait: float = 0.2) -> None:
        self.total, self.concurrency, self.slow, self.wait = total, concurrency, slow, wait
        self.lock = threading.Lock()
        self.issued: list[str] = []
        self.ended: set[str] = set()
        self.stopped: set[str] = set()
        self.running = 0
        self.peak = 0
        self.asked = 0
        self.finished_with: dict[str, Any] | None = None

    def prepare(self, job: dict[str, Any]) -> dict[str, Any]:
        return {"done": False}

    def next(self, job: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.asked += 1
            if self.slow in self.issued and self.slow not in self.ended:
                self.stopped.add(self.slow)  # the "policy": stop the slow one at the next look
            active = len(self.issued) - len(self.ended)
            room = min(self.concurrency - active, self.total - len(self.issued))
            new = [f"c{len(self.issued) + i}" for i in range(max(room, 0))]
            self.issued += new
            finished = not new and len(self.ended) == len(self.issued)
            return {"start": new, "finished": finished, "reason": "max_total_runs reached" if finished else "",
                    "wait_seconds": self.wait}

    def child(self, job: dict[str, Any]) -> dict[str, Any]:
        name = job["child"]
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        deadline = time.monotonic() + (30 if name == self.slow else 0.05 * (1 + int(name[1:]) % 3))
        while time.monotonic() < deadline and name not in self.stopped:
            time.sleep(0.02)
        with self.lock:
            self.running -= 1
            self.ended.add(name)
        return {"child": name, "status": "Canceled" if name in self.stopped else "Finished"}

    def finish(self, job: dict[str, Any]) -> dict[str, Any]:
        self.finished_with = job
        return {"step": job["step"], "status": "Finished", "reused": False, "error": None}


def _engine(fake: FakeSearch) -> DurableEngine:
    app = index_app(function_app.app)
    return DurableEngine(app.orchestrators, {"child_runs_prepare": fake.prepare, "child_runs_next": fake.next,
                                             "run_child": fake.child, "child_runs_finish": fake.finish},
                         max_workers=8)


def test_children_run_at_the_plans_concurrency_and_the_step_ends_with_its_reason() -> None:
    fake = FakeSearch(total=6, concurrency=2)
    with _engine(fake) as engine:
        iid = engine.start_new("child_runs_step", input={"run_id": "r", "step": "hd"})
        status = engine.wait_for_completion(iid, timeout=30)
    assert status.output == {"step": "hd", "status": "Finished", "reused": False, "error": None}
    assert fake.issued == [f"c{i}" for i in range(6)] and fake.ended == set(fake.issued)
    assert fake.peak == 2
    assert fake.finished_with == {"run_id": "r", "step": "hd", "reason": "max_total_runs reached"}


def test_a_child_that_ends_is_noticed_at_once_while_the_look_again_timer_is_long() -> None:
    """Under the extension's in-order replay a wait notices only its new tasks; the orchestrator keeps one
    look-again timer and adds a timer due now, so children ending out of order refill their slots at once."""
    fake = FakeSearch(total=8, concurrency=3, wait=30.0)
    with _engine(fake) as engine:
        began = time.monotonic()
        iid = engine.start_new("child_runs_step", input={"run_id": "r", "step": "hd"})
        status = engine.wait_for_completion(iid, timeout=60)
        wall = time.monotonic() - began
    assert status.output["status"] == "Finished" and fake.ended == set(fake.issued) and len(fake.issued) == 8
    assert wall < 10, wall  # never a 30 s wait for the timer
    assert fake.peak == 3


def test_a_timer_lets_the_plan_stop_a_running_child() -> None:
    fake = FakeSearch(total=3, concurrency=3, slow="c1")
    with _engine(fake) as engine:
        began = time.monotonic()
        iid = engine.start_new("child_runs_step", input={"run_id": "r", "step": "hd"})
        status = engine.wait_for_completion(iid, timeout=30)
        wall = time.monotonic() - began
        history = engine.history(iid)
    assert status.output["status"] == "Finished"
    assert fake.stopped == {"c1"} and wall < 10  # stopped by a look on a timer, not after its 30 s
    assert any(e["EventType"] == EventType.TIMER_CREATED for e in history)


def test_a_step_answered_by_prepare_runs_no_child() -> None:
    fake = FakeSearch(total=3, concurrency=3)
    reused = {"step": "hd", "status": "Finished", "reused": True, "error": None}
    fake.prepare = lambda job: {"done": True, "result": reused}  # type: ignore[method-assign]
    with _engine(fake) as engine:
        iid = engine.start_new("child_runs_step", input={"run_id": "r", "step": "hd"})
        status = engine.wait_for_completion(iid, timeout=30)
    assert status.output == reused and fake.issued == [] and fake.finished_with is None
