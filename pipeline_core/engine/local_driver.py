"""A simple in-process driver over the planner: runs ready steps on a thread pool until the run ends.

Temporary by design: the Durable orchestrator (functions/orchestration.py)
replaces it so that local submit and the HTTP endpoints share one engine path.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from pipeline_core.engine.activities import cancel_steps, finish_run, run_step, skip_steps, start_run
from pipeline_core.engine.planner import CANCELED, TERMINAL, plan
from pipeline_core.engine.services import Services


def drive(services: Services, run_id: str, max_parallel: int = 4) -> dict[str, Any]:
    info = start_run(services, run_id)
    if info["done"]:
        return {"run_id": run_id, "status": info["status"]}
    deps: dict[str, list[str]] = info["deps"]
    status: dict[str, str] = {}
    running: dict[Future[dict[str, Any]], str] = {}
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix=f"run-{run_id[:8]}") as pool:
        cancel = bool(info.get("cancel_requested"))
        checked = time.monotonic()
        while True:
            if time.monotonic() - checked > 0.5:  # cancel is polled, not checked on every completion
                cancel = services.runs.get_run(run_id).get("status") in ("CancelRequested", CANCELED)
                checked = time.monotonic()
            decision = plan(deps, status, set(running.values()), info["continue_on_step_failure"], cancel)
            if decision.to_cancel:
                cancel_steps(services, run_id, decision.to_cancel)
            if decision.skipped:
                skip_steps(services, run_id, decision.skipped)
                status.update({n: CANCELED for n in decision.skipped})
            if decision.done:
                return finish_run(services, run_id, decision.outcome or "Failed", decision.failed_steps)
            for name in decision.ready:
                running[pool.submit(run_step, services, run_id, name)] = name
            if running:
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        result = future.result()
                        status[name] = result["status"] if result["status"] in TERMINAL else "Failed"
                    except Exception:
                        status[name] = "Failed"


def drive_in_background(services: Services, run_id: str) -> threading.Thread:
    thread = threading.Thread(target=drive, args=(services, run_id), name=f"amlite-run-{run_id[:8]}", daemon=False)
    thread.start()
    return thread
