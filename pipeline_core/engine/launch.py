"""Starting a stored run: the run-launcher port, and the one "start it, or end it Failed" path.

Why a port: *what* a run does is decided here (planner, activities, storage);
*where* its orchestration runs is not. On Azure the Functions app starts it
through the Durable client (``functions/launcher.py``); a local workspace runs
the app's own orchestrator in this process (``amlite_local``). Both are
adapters of :class:`RunLauncher`, composed at the edges, so ``pipeline_core``
never imports the Functions app, the local engine or the dev host.

Every way of starting a run goes through :func:`start_or_fail`: a local submit
(:func:`launch_run`), the HTTP submit routes (``ServiceRequest.launch=False``,
then the Functions app starts ``launch_run_id`` with its Durable launcher), and
schedules (each fire). A start that raises ends the run Failed with the reason
and raises :class:`RunNotStarted`, so a run a caller was told about is never
left NotStarted/Queued without an orchestration.

Launchers are found by name, never by importing a bare module name: one given
to :func:`register_launcher`, else an entry point of the group
``amlite.launchers`` (``pyproject.toml``: ``local = "amlite_local.launcher:LocalLauncher"``).
An entry point names a factory ``(storage) -> RunLauncher``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pipeline_core.engine.run_tracker import CANCEL_EVENT as CANCEL_EVENT
from pipeline_core.engine.services import Services
from pipeline_core.errors import LauncherNotFound as LauncherNotFound
from pipeline_core.errors import RunNotStarted as RunNotStarted
from pipeline_core.errors import StorageUnavailableError
from pipeline_core.storage.run_store import FAILED, NOT_STARTED, QUEUED, RUN_ROW, InvalidTransition, utcnow

log = logging.getLogger("amlite.launch")

#: The entry point group launchers are found in (``importlib.metadata``).
ENTRY_POINT_GROUP = "amlite.launchers"
#: The launcher a local workspace starts its runs with: the in-process engine (``amlite_local``).
LOCAL = "local"
#: The orchestrator every launcher starts, with the run id as instance id and input.
ORCHESTRATOR = "pipeline_run"


class RunLauncher(Protocol):
    """Where a run's orchestration runs. The instance id is the run id, so a start is done at most once."""

    def start(self, run_id: str) -> None:
        """Start the ``pipeline_run`` orchestration of ``run_id`` (its rows exist, it is Queued)."""
        ...

    def cancel(self, run_id: str) -> bool:
        """Tell the run's orchestrator to cancel; False when this launcher does not run it."""
        ...

    def exists(self, run_id: str) -> bool:
        """Whether an orchestration of ``run_id`` was started already (a retried schedule fire asks)."""
        ...


LauncherFactory = Callable[[str], RunLauncher]


_lock = threading.Lock()
_factories: dict[str, LauncherFactory] = {}
#: Launchers made in this process, by (name, storage): one local engine per account and process.
_made: dict[tuple[str, str], RunLauncher] = {}


def register_launcher(name: str, factory: LauncherFactory) -> None:
    """Use ``factory(storage)`` for launcher ``name`` in this process (wins over an entry point)."""
    with _lock:
        _factories[name] = factory
        for key in [k for k in _made if k[0] == name]:
            del _made[key]


def unregister_launcher(name: str) -> None:
    """Forget a registration (and the launchers made from it): ``name`` is found by entry point again."""
    with _lock:
        _factories.pop(name, None)
        for key in [k for k in _made if k[0] == name]:
            del _made[key]


def _entry_point(name: str) -> LauncherFactory | None:
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            factory: LauncherFactory = entry.load()
            return factory
    return None


def launcher_for(services: Services, name: str = LOCAL) -> RunLauncher:
    """The launcher ``name`` for the account of ``services``, made once per process."""
    key = (name, services.storage)
    with _lock:
        launcher = _made.get(key)
        if launcher is not None:
            return launcher
        factory = _factories.get(name)
    if factory is None:
        factory = _entry_point(name)
    if factory is None:
        raise LauncherNotFound(
            f"no run launcher named {name!r}: none was registered with register_launcher() and no "
            f"{ENTRY_POINT_GROUP!r} entry point has that name. The local engine ships in amlite itself "
            "(package amlite_local): reinstall amlite (`pip install -e .` or `make setup`) so its entry point "
            "is installed", parameter="launcher")
    made = factory(services.storage)
    with _lock:
        return _made.setdefault(key, made)


def host_identity() -> str:
    """hostname/pid/start: enough to tell later whether the process that owns a run is still alive."""
    return f"{socket.gethostname()}/{os.getpid()}/{_process_start()}"


def _process_start() -> str:
    try:
        with open(f"/proc/{os.getpid()}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return "0"


#: The run row's field naming the Durable task hub its orchestration was started in (when the launcher says).
TASK_HUB_FIELD = "task_hub"


def launcher_task_hub(launcher: RunLauncher) -> str | None:
    """The task hub a launcher starts orchestrations in, if it says (a ``task_hub`` attribute).

    Why it is recorded: on Azure a run's owner is a worker no other instance can see, so the app's sweeper
    can only end a Running run whose instance is gone (purged) when the row says that instance was in the
    sweeper's own task hub, not in another hub on the same storage (a local engine's, say).
    """
    hub = getattr(launcher, "task_hub", None)
    return hub if isinstance(hub, str) and hub else None


def mark_queued(services: Services, run_id: str, etag: str | None = None, task_hub: str | None = None) -> None:
    """NotStarted -> Queued. With the ``etag`` of the row as created: one conditional write, no read
    (a row changed since falls back to the read-check-write transition)."""
    fields = {"host_id": host_identity(), **({TASK_HUB_FIELD: task_hub} if task_hub else {})}
    try:
        if etag:
            created = {"PartitionKey": run_id, "RowKey": RUN_ROW, "status": NOT_STARTED, "etag": etag}
            services.runs.transition_from(created, QUEUED, fields)
        else:
            services.runs.transition(run_id, RUN_ROW, QUEUED, fields)
    except InvalidTransition:
        pass


def queued_fields(launcher: RunLauncher | None = None, task_hub: str | None = None) -> dict[str, str]:
    """What a run row created Queued, to be started at once, holds beyond the rest: its owner and the hub
    its orchestration starts in (``launcher``'s, or ``task_hub`` when the launcher is made later)."""
    hub = launcher_task_hub(launcher) if launcher is not None else task_hub
    return {"host_id": host_identity(), **({TASK_HUB_FIELD: hub} if hub else {})}


def _queue(services: Services, run_id: str, launcher: RunLauncher, created: Mapping[str, Any] | None) -> None:
    """Make the row say Queued, by this host, in ``launcher``'s hub, unless it was ``created`` so."""
    hub = launcher_task_hub(launcher)
    if created is None or created.get("status") != QUEUED:
        mark_queued(services, run_id, created.get("etag") if created else None, hub)
    elif (created.get(TASK_HUB_FIELD) or None) != hub:  # created Queued for another hub: say the real one
        services.runs.update(run_id, RUN_ROW, {TASK_HUB_FIELD: hub or ""})


def start_or_fail(services: Services, run_id: str, launcher: RunLauncher, *,
                  created: Mapping[str, Any] | None = None, unless_started: bool = False) -> bool:
    """Queue ``run_id`` and start its orchestration with ``launcher``; a start that raises ends the run Failed
    with the reason and raises :class:`RunNotStarted`.

    ``created``: the run row as this process created it (with its etag). A row created Queued with
    :func:`queued_fields` is started with no write before the start; a NotStarted one is queued with one
    conditional write. ``unless_started`` (a retried schedule fire): do nothing when the launcher already
    has an orchestration of this run. Returns whether this call started it.
    """
    if unless_started and launcher.exists(run_id):
        return False
    _queue(services, run_id, launcher, created)
    try:
        launcher.start(run_id)
    except Exception as exc:
        log.exception("could not start the orchestration of run %s", run_id)
        reason = f"the orchestration could not be started: {type(exc).__name__}: {exc}"
        outcome = "it was ended Failed with the reason"
        try:
            services.runs.transition(run_id, RUN_ROW, FAILED, {"end_time": utcnow(), "error": {"message": reason}})
        except InvalidTransition:
            pass
        except Exception as record_exc:  # storage down too: the orphan check ends the run later
            if not _is_outage(record_exc):
                raise
            outcome = "storage did not answer either, so the host's orphan check will end it"
        raise RunNotStarted(f"run {run_id} was created but its orchestration could not be started ({exc}); "
                            f"{outcome}", run_id, reason) from exc
    return True


def _is_outage(exc: BaseException) -> bool:
    """Storage could not be reached or answered "try later" (as ``rest.errors.is_storage_outage`` judges)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, StorageUnavailableError | ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) in (408, 500, 502, 503, 504)


def launch_run(services: Services, run_id: str, launcher: RunLauncher | None = None,
               created: Mapping[str, Any] | None = None) -> None:
    """Start a run created in this process (``created``: its row as written): with ``launcher``, else the
    local engine (a local workspace)."""
    start_or_fail(services, run_id, launcher or launcher_for(services, LOCAL), created=created)


def signal_cancel(run_id: str) -> bool:
    """Tell the orchestrator of ``run_id`` if a launcher made in this process runs it; the run row's cancel
    flag reaches the rest. Makes no launcher: a process that started nothing has nothing to tell."""
    with _lock:
        made = list(_made.values())
    told = False
    for launcher in made:
        try:
            told = launcher.cancel(run_id) or told
        except Exception:  # noqa: BLE001 - already finished: nothing to cancel
            log.debug("cancel of %s through %r failed", run_id, launcher, exc_info=True)
    return told
