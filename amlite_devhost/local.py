"""The engine behind ``Experiment.submit`` on a local workspace: the app's own orchestrator, in process.

Why in process: a local submit must run the same orchestrator code Azure runs
(``functions/orchestration.py``) without asking the user to start a host.
One engine per process, created on first use; at interpreter exit the process
waits for the runs it started, as AML's local runs did, so a script that
submits and returns does not leave a run half done.
"""

from __future__ import annotations

import atexit
import importlib
import os
import threading
from typing import Any

from .app_loader import index_app
from .durable.engine import DurableEngine

ORCHESTRATOR = "pipeline_run"
CANCEL_EVENT = "cancel"

_lock = threading.Lock()
_engine: DurableEngine | None = None
_storage: str | None = None
_started: list[str] = []


def _load_engine(storage: str) -> DurableEngine:
    global _engine, _storage
    with _lock:
        if _engine is not None:
            if storage != _storage:
                raise RuntimeError(
                    f"this process already runs local pipelines against {_storage!r}; one local engine "
                    "serves one storage account per process (start another process for another account)")
            return _engine
        # The activities read their account from the environment, as they do in Azure.
        os.environ["AMLITE_STORAGE"] = storage
        module = importlib.import_module("function_app")
        app = index_app(module.app)
        # A ParallelRunStep keeps one activity per worker process busy for the whole of a slice, so the
        # pool must not be smaller than the default process_count_per_node (the CPU count).
        workers = int(os.environ.get("AMLITE_LOCAL_WORKERS")
                      or max(4, app.max_concurrent_activities or 4, os.cpu_count() or 1))
        _engine = DurableEngine.from_app(app, max_workers=workers)
        _storage = storage
        _end_orphans(storage)
        atexit.register(_wait_for_local_runs)
        return _engine


def _end_orphans(storage: str) -> None:
    from pipeline_core.engine.orphans import mark_orphaned_runs
    from pipeline_core.engine.services import services_for

    mark_orphaned_runs(services_for(storage))


def _wait_for_local_runs() -> None:
    engine = _engine
    if engine is None:
        return
    for instance_id in list(_started):
        try:
            engine.wait_for_completion(instance_id, timeout=None)
        except Exception:  # noqa: BLE001 - exiting anyway; the run row says what happened
            pass
    engine.shutdown()


def start_local_run(storage: str, run_id: str) -> None:
    engine = _load_engine(storage)
    engine.start_new(ORCHESTRATOR, instance_id=run_id, input=run_id)
    _started.append(run_id)


def cancel_local_run(run_id: str) -> bool:
    """Raise the cancel event if this process runs ``run_id``; False if it is not ours."""
    if _engine is None or run_id not in _started:
        return False
    try:
        _engine.raise_event(run_id, CANCEL_EVENT, {"reason": "canceled by the user"})
        return True
    except Exception:  # noqa: BLE001 - already finished: nothing to cancel
        return False


def local_status(run_id: str) -> Any:
    return None if _engine is None else _engine.get_status(run_id)


def local_instances(prefix: str | None = None) -> list[Any]:
    """Status of every orchestration instance this process's engine holds (ids starting with ``prefix``).

    A run's orchestrations share its id as prefix: ``{run_id}`` itself, then ``{run_id}:{n}`` for
    sub-orchestrations (a ParallelRunStep, its chunks), recursively.
    """
    return [] if _engine is None else _engine.list_instances(prefix=prefix)


def local_history(instance_id: str) -> list[dict[str, Any]]:
    """The history events (Durable's JSON shape) of one instance of this process's engine."""
    if _engine is None:
        raise LookupError("no local pipeline has run in this process")
    return _engine.history(instance_id)
