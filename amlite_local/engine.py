"""The engine behind ``Experiment.submit`` on a local workspace: the app's own orchestrator, in process.

Why in process: a local submit must run the same orchestrator code Azure runs
(``functions/orchestration.py``) without asking the user to start a host.
One engine per process, created on first use, keeping its orchestration state
in the workspace's storage account (task hub: the app's, as ``amlite dev``
resolves it), like the dev host.

The app is amlite's own ``function_app.py``, loaded by its file path (beside
this package), never by the bare module name: a driver run from a folder that
holds a ``function_app.py`` of its own must not get that file. The storage
account is an argument, bound for each of the app's activities with
``pipeline_core.engine.services.storage_bound`` (no environment variable is
changed, so step processes and other code see the environment as it was).

At interpreter exit the process finishes its runs before Python shuts its
thread pools down, as AML's local runs did, so a script that submits and
returns (or raises) neither hangs nor leaves a run half done; Ctrl+C during
that wait hands the runs over instead. A driver that is killed cannot finish
its own runs: the next local engine or ``amlite dev`` on the same storage and
task hub resumes them (``resume.ResumeSweeper``, which this engine runs too,
so it also resumes what other dead drivers left).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from amlite_devhost.app_loader import LoadedApp, load_app
from amlite_devhost.durable.engine import DurableEngine
from amlite_devhost.durable.models import RuntimeStatus
from amlite_devhost.durable.store import OrchestrationStore
from amlite_devhost.resume import ResumeSweeper as GenericSweeper
from amlite_devhost.shutdown import before_thread_shutdown, exit_now
from pipeline_core.engine.launch import CANCEL_EVENT, ORCHESTRATOR, host_identity
from pipeline_core.engine.services import services_for, storage_bound
from pipeline_core.execution.process import start_fork_server
from pipeline_core.storage.account import StorageAccount

from .resume import ResumeSweeper

#: amlite's own Functions app root: the folder holding this package and ``function_app.py``.
APP_ROOT = Path(__file__).resolve().parent.parent
#: ``memory`` keeps the local engine's orchestration state in memory only (nothing resumes after a crash).
STATE_ENV = "AMLITE_LOCAL_STATE"

logger = logging.getLogger("amlite.local")

_lock = threading.Lock()
_engine: DurableEngine | None = None
_sweeper: GenericSweeper | None = None
_storage: str | None = None


@contextmanager
def _app_root_first() -> Iterator[None]:
    """``APP_ROOT`` first on ``sys.path`` while the app loads, so ``functions`` is amlite's package even when
    the driver's folder (``sys.path[0]``) holds a ``functions`` of its own."""
    entry = str(APP_ROOT)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        sys.path.remove(entry)  # removes the first occurrence: the one inserted above


def load_amlite_app() -> LoadedApp:
    """amlite's ``function_app.app``, loaded from ``APP_ROOT/function_app.py`` and indexed.

    A ``function_app`` module already imported from another file is left alone (amlite's then loads under a
    private name), and a ``functions`` package imported from elsewhere is refused with the reason.
    """
    path = APP_ROOT / "function_app.py"
    if not path.is_file():
        raise FileNotFoundError(f"amlite's Functions app {path} is missing: the local engine runs that app's "
                                "orchestrator; reinstall amlite (`pip install -e .` from its checkout)")
    shadow = sys.modules.get("functions")
    if shadow is not None and not _within(getattr(shadow, "__file__", None), APP_ROOT / "functions"):
        raise ImportError(f"a module named 'functions' from {getattr(shadow, '__file__', '?')} is already imported "
                          f"in this process; amlite's local engine needs its own package of that name "
                          f"({APP_ROOT / 'functions'}). Rename the other module (or import it under another name)")
    with _app_root_first():
        return load_app(APP_ROOT)


def _within(file: str | None, folder: Path) -> bool:
    return file is not None and Path(file).resolve().is_relative_to(folder.resolve())


def _bound_to(storage: str, activity: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(payload: Any) -> Any:
        with storage_bound(storage):
            return activity(payload)

    return run


def _load_engine(storage: str) -> DurableEngine:
    global _engine, _storage, _sweeper
    with _lock:
        if _engine is not None:
            if storage != _storage:
                raise RuntimeError(
                    f"this process already runs local pipelines against {_storage!r}; one local engine "
                    "serves one storage account per process (start another process for another account)")
            return _engine
        start_fork_server()  # its interpreter starts while the app loads: the first step is not kept waiting
        app = load_amlite_app()
        workers = int(os.environ.get("AMLITE_LOCAL_WORKERS") or local_workers(app.max_concurrent_activities))
        me = host_identity()
        services = services_for(storage)
        store = None
        if os.environ.get(STATE_ENV, "").lower() != "memory":
            store = OrchestrationStore(storage, app.task_hub, owner=me, account=StorageAccount)
        # The activities ask for their account as they do on Azure (storage_from_environment): each runs with
        # this engine's account bound, so the environment is never changed.
        activities = {name: _bound_to(storage, fn) for name, fn in app.activities.items()}
        _engine = DurableEngine(app.orchestrators, activities, max_workers=workers, store=store)
        _storage = storage
        # The first sweep (runs and orchestrations of stopped hosts) runs on the sweeper's thread: the run this
        # process starts is its own and needs nothing from it, and a sweep scans every unfinished run row
        # (~90 ms of a cold start). The exit joins it, so even a short-lived process makes that one sweep.
        _sweeper = ResumeSweeper(_engine, services, me, orchestrator=ORCHESTRATOR).start()
        before_thread_shutdown(_finish_local_runs)
        return _engine


#: Activities per core of the local engine: a script step's activity mostly waits on its process.
ACTIVITIES_PER_CORE = 8


def local_workers(app_limit: int | None, cores: int | None = None) -> int:
    """Activity threads of the local engine: 8 per core (at least the app's own limit).

    A script step's activity spends its time waiting for its process and for storage, so one
    per core left independent steps queued behind each other (100 steps took 20 s on 2 cores).
    A ParallelRunStep keeps one activity per worker process busy for a whole slice, so the
    pool is never smaller than the default process_count_per_node (the CPU count) either.
    """
    cores = cores or os.cpu_count() or 1
    return max(app_limit or 4, ACTIVITIES_PER_CORE * cores)


EXIT_POLL_SECONDS = 5.0  # how often the exit wait checks that storage still answers
#: How long the exit waits for episodes still being stored once every run is done.
STORE_GRACE_SECONDS = 30.0


def _unfinished(engine: DurableEngine) -> list[str]:
    return [s.instance_id for s in engine.list_instances(statuses=[RuntimeStatus.PENDING.value,
                                                                   RuntimeStatus.RUNNING.value])
            if s.parent_instance_id is None]


def _finish_local_runs() -> None:
    """At exit: wait for every run this engine carries (its own and those it resumed), then stop."""
    engine = _engine
    if engine is None:
        return
    if _sweeper is not None:
        _sweeper.stop()
    told = stored = False
    try:
        while True:
            waiting = _unfinished(engine)
            if not waiting:
                stored = True
                break
            if not told and os.environ.get("AMLITE_QUIET") != "1":
                print(f"amlite: waiting for {len(waiting)} local run(s) to finish before exiting "
                      f"({', '.join(waiting[:5])}{', ...' if len(waiting) > 5 else ''}); Ctrl+C hands them "
                      "to the next local engine or `amlite dev` on this storage", file=sys.stderr, flush=True)
                told = True
            for instance_id in waiting:
                try:
                    engine.wait_for_completion(instance_id, timeout=EXIT_POLL_SECONDS)
                except Exception:  # noqa: BLE001 - purged meanwhile, or not done yet: look again
                    pass
            if not _storage_answers(_storage):
                # Nothing can be recorded, so waiting could last forever (a test session whose Azurite
                # already stopped, say). What is stored stays for the next engine; the exit code is kept.
                engine.abandon()
                print("amlite: storage no longer answers; the next local engine or `amlite dev` on this "
                      "storage resumes the unfinished runs", file=sys.stderr, flush=True)
                break
        # A run is done once its last episode is replayed, but that episode may still be on its way to storage:
        # wait for it here, before Python's exit stops every thread pool (the Tables SDK parses a batch answer
        # on one) and the write is lost, leaving a finished orchestration stored as running.
        if stored and not engine.drain(grace=STORE_GRACE_SECONDS):
            logger.warning("amlite: orchestration writes still pending at exit; the next local engine or "
                           "`amlite dev` on this storage completes them")
    except KeyboardInterrupt:
        _hand_over(engine)
    engine.shutdown(wait=False)


def _storage_answers(storage: str | None, timeout: float = 2.0) -> bool:
    """Whether the account's blob endpoint accepts a connection (an Azure account is assumed to)."""
    if not storage:
        return True
    try:
        from urllib.parse import urlsplit

        from pipeline_core.storage.account import get_account

        url = urlsplit(get_account(storage).blobs.url)
        if url.hostname is None or not url.hostname.startswith(("127.", "localhost")):
            return True
        with socket.create_connection((url.hostname, url.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def _hand_over(engine: DurableEngine) -> None:
    """Leave the runs to the next engine: nothing more is recorded, running steps are stopped, exit now."""
    engine.abandon()
    resumable = engine.store is not None
    print("amlite: stopped; " + ("the next local engine or `amlite dev` on this storage resumes the runs"
                                 if resumable else "the runs end Failed when the next engine starts"),
          file=sys.stderr, flush=True)
    exit_now(130)


def start_local_run(storage: str, run_id: str) -> None:
    engine = _load_engine(storage)
    engine.start_new(ORCHESTRATOR, instance_id=run_id, input=run_id)


def local_engine(storage: str) -> DurableEngine:
    """This process's engine for ``storage``, started on first use (one storage account per process)."""
    return _load_engine(storage)


def cancel_local_run(run_id: str) -> bool:
    """Raise the cancel event if this process runs ``run_id``; False if it is not ours."""
    if _engine is None or not _engine.owns(run_id):
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
