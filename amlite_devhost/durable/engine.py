"""The dev host's Durable orchestration engine.

Orchestrators run through azure-functions-durable's own replay: for every
episode we build the context JSON the extension would send (full history,
the new events unplayed), call the DFApp ``handle`` and read back the
orchestrator state (actions, isDone, output, error, customStatus).  The
:class:`~.replayer.ActionReplayer` turns the actions into scheduled work the
way the extension's out-of-proc shim does.

Threads: one dispatcher runs episodes (orchestrator code is Python; the GIL
would serialise more dispatchers anyway), a ``ThreadPoolExecutor`` runs
activities, one :class:`~amlite_devhost.scheduling.DelayScheduler` fires
durable timers.  Work for an instance that arrives while its episode runs is
queued and handed to the next episode in one batch, as the extension does, so
a 1,000-wide fan-out costs a handful of replays, not a thousand.

With a :class:`~.store.OrchestrationStore` the engine keeps each instance's
history in the storage account, as Durable's Azure Storage provider does: an
episode's events and the instance state are written in one transaction (on
a small writer pool, so the dispatcher goes on with other instances). The
episode's activities start while it is written, as the provider sends an
episode's messages before it writes its history; its timers and
sub-orchestrations, and the instance's next episode, wait for the write. A host
that dies before the write loses no decision: the next one replays the same
decision from the last stored episode.
:meth:`DurableEngine.adopt_orphans` lets a later host claim the instances of
a dead one and resume them: their first episode rebuilds the replay state
from the stored history and dispatches again whatever had been scheduled and
not completed (an activity interrupted by the crash runs again: at least
once, as under Durable).  Without a store, state lives in memory only.

:meth:`DurableEngine.drain` is the graceful half of a shutdown: no new work
starts, running activities get a grace period and their completions are
recorded; what was scheduled and not started stays in the store for the next
host.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from azure.functions._durable_functions import df_dumps, df_loads

from ..scheduling import DelayScheduler
from .history import EventType, HistoryLog, format_timestamp, make_event
from .instance import Instance, OrchestratorFn, child_event
from .models import (
    HostStoppingError,
    InstanceCompletedError,
    InstanceExistsError,
    InstanceNotFoundError,
    InstanceStatus,
    NonDeterminismError,
    OrchestratorNotFoundError,
    RuntimeStatus,
)
from .persistence import ChildPlan, ResumeChild, StoredInstances, stored_status
from .replayer import (
    ActionReplayer,
    CancelTimer,
    ScheduleActivity,
    ScheduleTimer,
    StartSubOrchestration,
    UnsupportedActionError,
    top_level_actions,
)

if TYPE_CHECKING:
    from ..app_loader import LoadedApp
    from .store import InstanceRecord, OrchestrationStore

logger = logging.getLogger("amlite.devhost.durable")

ActivityFn = Callable[[Any], Any]
Listener = Callable[[InstanceStatus], None]

_OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"

# ReplaySchema values (the SDK's enum): V1 nested action lists, V2 compound
# WhenAll/WhenAny actions, V3 = V2 plus long-timer support.
SCHEMA_V1, SCHEMA_V2, SCHEMA_V3 = 0, 1, 2


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)






class DurableEngine(StoredInstances):
    """Run DFApp orchestrations; with ``store``, their state survives the process.

    ``orchestrators`` maps a name to the DFApp ``handle`` (context JSON string
    in, orchestrator state JSON string out); ``activities`` maps a name to a
    callable taking the decoded input.  :meth:`from_app` builds both from an
    indexed Functions app.
    """

    def __init__(self, orchestrators: Mapping[str, OrchestratorFn],
                 activities: Mapping[str, ActivityFn], *, max_workers: int = 8,
                 schema_version: int = SCHEMA_V3,
                 clock: Callable[[], datetime] = _utcnow,
                 loop: asyncio.AbstractEventLoop | None = None,
                 max_batch_wait: float = 0.1,
                 store: OrchestrationStore | None = None, store_writers: int = 4) -> None:
        self._orchestrators = dict(orchestrators)
        self._activities = dict(activities)
        self._schema = schema_version
        self._max_batch_wait = max_batch_wait
        self._cost_per_event = 0.0  # moving average, seconds per history event replayed
        self._clock = clock
        self.loop = loop  # where async activities run when the host has a loop
        self._lock = threading.RLock()
        self._wakeup = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._instances: dict[str, Instance] = {}
        self._queue: deque[Instance] = deque()
        self._listeners: list[Listener] = []
        self._store = store
        self._writer = None if store is None else ThreadPoolExecutor(
            max_workers=max(1, store_writers), thread_name_prefix="amlite-durable-store")
        self._draining = False  # no new work starts; completions are still recorded
        self._abandoned = False  # nothing is recorded or dispatched any more
        self._busy = 0  # activity functions executing
        self._active = 0  # episodes being replayed or stored
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="amlite-activity")
        self._timers = DelayScheduler("amlite-durable-timers")
        self._timers.start()
        self._stopping = False
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="amlite-orchestrator", daemon=True)
        self._dispatcher.start()

    @classmethod
    def from_app(cls, app: LoadedApp, **kwargs: Any) -> DurableEngine:
        """Engine for the orchestrators and activities an indexed app registers."""
        return cls(app.orchestrators, app.activities, **kwargs)

    # ------------------------------------------------------------------ public API

    @property
    def orchestrator_names(self) -> list[str]:
        return sorted(self._orchestrators)

    @property
    def store(self) -> OrchestrationStore | None:
        return self._store

    @property
    def owner(self) -> str | None:
        """The host id written on the instances this engine runs (None without a store)."""
        return None if self._store is None else self._store.owner

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(status)`` on every runtime status change (start, finish)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def start_new(self, name: str, instance_id: str | None = None, input: Any = None, *,
                  serialized_input: str | None = None) -> str:
        """Start an orchestration; ``serialized_input`` passes JSON text as-is.

        Raises :class:`InstanceExistsError` if ``instance_id`` names a
        non-terminal instance (a finished one is replaced, as Durable does).
        With a store, the instance is stored before this returns.
        """
        input_json = serialized_input if serialized_input is not None else (
            None if input is None else df_dumps(input))
        instance_id = instance_id or uuid.uuid4().hex
        with self._lock:
            self._check_new(name, instance_id)
            now = self._clock()
        execution_id = uuid.uuid4().hex
        episodes = 0
        if self._store is not None:
            record = self._new_record(instance_id, name, execution_id, input_json, now, None)
            self._store.create(record)
            episodes = record.episodes
        with self._lock:
            inst = self._create_instance(name, instance_id, input_json, parent=None, created=now,
                                         execution_id=execution_id, episodes=episodes)
        return inst.instance_id

    def get_status(self, instance_id: str, show_history: bool = False) -> InstanceStatus | None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is not None:
                return self._snapshot(inst, show_history)
        if self._store is None:
            return None
        record = self._store.get(instance_id)  # e.g. finished before this host started
        return None if record is None else stored_status(record)

    def list_instances(self, *, created_from: datetime | None = None, created_to: datetime | None = None,
                       statuses: Iterable[str] | None = None,
                       prefix: str | None = None) -> list[InstanceStatus]:
        wanted = {str(s) for s in statuses} if statuses else None
        with self._lock:
            out = []
            for inst in self._instances.values():
                if created_from and inst.created < created_from:
                    continue
                if created_to and inst.created > created_to:
                    continue
                if wanted and inst.status.value not in wanted:
                    continue
                if prefix and not inst.instance_id.startswith(prefix):
                    continue
                out.append(self._snapshot(inst, False))
            return out

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The raw history events (the JSON the SDK is fed) of the current execution."""
        with self._lock:
            inst = self._require(instance_id)
            return inst.log.events

    def raise_event(self, instance_id: str, name: str, data: Any = None, *,
                    serialized_data: str | None = None) -> None:
        """Deliver an external event; with a store it is stored first, so a restart does not lose it."""
        payload = serialized_data if serialized_data is not None else json.dumps(data)
        with self._lock:
            inst = self._require(instance_id)
            if inst.status.is_terminal:
                raise InstanceCompletedError(
                    f"Instance '{instance_id}' is {inst.status.value}; events can only be raised "
                    "to Pending or Running instances")
            event = make_event(EventType.EVENT_RAISED, self._clock(), Name=name, Input=payload)
            execution_id = inst.execution_id
            store = self._store if self._persisting(inst) else None
        key = None if store is None else store.add_event(instance_id, execution_id, event)
        with self._lock:
            if (self._instances.get(instance_id) is not inst or inst.execution_id != execution_id
                    or inst.status.is_terminal):
                return  # it ended meanwhile; a stored row belongs to an execution that is over
            inst.pending.append(event)
            if key is not None:
                inst.event_keys.append(key)
            self._schedule(inst)

    def terminate(self, instance_id: str, reason: str = "") -> None:
        with self._lock:
            inst = self._require(instance_id)
            if inst.status.is_terminal:
                raise InstanceCompletedError(f"Instance '{instance_id}' already {inst.status.value}")
            self._stop_execution(inst)
            now = self._clock()
            if len(inst.log) == 0:  # terminated before its first episode was played: as Durable, whose batch
                # with the start message records the start too, the history still opens with the start
                inst.tail.extend([make_event(EventType.ORCHESTRATOR_STARTED, now), self._execution_started(inst, now)])
            inst.tail.append(make_event(EventType.EXECUTION_TERMINATED, now, Input=json.dumps(reason)))
            self._mark_finished(inst, RuntimeStatus.TERMINATED, reason, now)
            record = self._record(inst) if self._persisting(inst) else None
        if record is not None and self._store is not None:
            with inst.write_lock:
                self._store.save_state(record)
        self._announce_finished(inst)

    def purge(self, instance_id: str) -> bool:
        """Forget an instance; a running one is stopped first (its parent is not told)."""
        with self._lock:
            inst = self._instances.pop(instance_id, None)
            if inst is not None:
                self._stop_execution(inst)
                inst.done.set()
        if self._store is None:
            return inst is not None
        if inst is None:
            if self._store.get(instance_id) is None:
                return False
            self._store.delete(instance_id)
            return True
        with inst.write_lock:
            self._store.delete(instance_id)
        return True

    def purge_by(self, *, created_from: datetime | None = None, created_to: datetime | None = None,
                 statuses: Iterable[str] | None = None) -> int:
        ids = [s.instance_id for s in self.list_instances(
            created_from=created_from, created_to=created_to, statuses=statuses)]
        return sum(1 for i in ids if self.purge(i))

    def wait_for_completion(self, instance_id: str, timeout: float | None = None) -> InstanceStatus:
        """Block until the instance is Completed/Failed/Terminated; TimeoutError otherwise."""
        with self._lock:
            inst = self._require(instance_id)
        if not inst.done.wait(timeout):
            status = self.get_status(instance_id)
            state = status.runtime_status.value if status else "purged"
            raise TimeoutError(f"Orchestration '{instance_id}' still {state} after {timeout}s")
        with self._lock:
            return self._snapshot(inst, False)

    # ------------------------------------------------------------------ lifecycle

    def drain(self, grace: float) -> bool:
        """Graceful stop, first half: start no new work, give running activities ``grace`` seconds.

        Completions that arrive meanwhile are replayed and stored as usual (a
        finished step is never lost); what they schedule is stored, not started.
        Returns True when nothing is left running.
        """
        deadline = time.monotonic() + max(0.0, grace)
        with self._lock:
            self._draining = True
            for inst in self._instances.values():
                if inst.holding is not None:
                    self._release(inst)
            while True:
                if self._busy == 0 and self._active == 0 and not self._queue:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.25))

    def abandon(self) -> None:
        """Stop recording and dispatching at once; what is stored stays for the next host."""
        with self._lock:
            self._draining = True
            self._abandoned = True
            self._idle.notify_all()

    def owns(self, instance_id: str) -> bool:
        """True while this engine runs ``instance_id`` (it is in memory and not finished)."""
        with self._lock:
            inst = self._instances.get(instance_id)
            return inst is not None and not inst.status.is_terminal

    @property
    def running_activities(self) -> int:
        with self._lock:
            return self._busy

    def shutdown(self, wait: bool = True) -> None:
        """Stop the dispatcher, timers and the activity pool. Unfinished instances are abandoned (with a
        store they stay stored, for the next host to resume)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._draining = True
            self._abandoned = True
            self._wakeup.notify_all()
            self._idle.notify_all()
        self._timers.stop()
        if self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=10 if wait else 0.1)
        self._pool.shutdown(wait=wait, cancel_futures=True)
        if self._writer is not None:
            self._writer.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> DurableEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ instances

    def _now(self) -> datetime:
        return self._clock()

    def _require(self, instance_id: str) -> Instance:
        inst = self._instances.get(instance_id)
        if inst is None:
            raise InstanceNotFoundError(f"No orchestration instance with ID '{instance_id}'")
        return inst

    def _check_new(self, name: str, instance_id: str) -> OrchestratorFn:
        if self._draining or self._stopping:
            raise HostStoppingError("the host is shutting down and starts no new orchestrations; retry on "
                                    "the next host")
        orchestrator = self._orchestrators.get(name)
        if orchestrator is None:
            known = ", ".join(sorted(self._orchestrators)) or "none"
            raise OrchestratorNotFoundError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Registered orchestrators: {known}")
        existing = self._instances.get(instance_id)
        if existing is not None and not existing.status.is_terminal:
            raise InstanceExistsError(
                f"An orchestration instance with ID '{instance_id}' already exists and is "
                f"{existing.status.value}; pick another instance ID or terminate it first")
        return orchestrator

    def _create_instance(self, name: str, instance_id: str, input_json: str | None,
                         parent: tuple[str, int, int] | None, *, created: datetime | None = None,
                         execution_id: str | None = None, episodes: int = 0) -> Instance:
        orchestrator = self._check_new(name, instance_id)
        existing = self._instances.get(instance_id)
        if existing is not None:
            self._stop_execution(existing)
        now = created or self._clock()
        inst = Instance(instance_id=instance_id, name=name, orchestrator=orchestrator, input=input_json,
                         parent=parent, created=now, last_updated=now, episodes=episodes)
        inst.stored_state = (False, execution_id or "")
        if execution_id:
            inst.execution_id = execution_id
        if parent is not None:
            owner = self._instances.get(parent[0])
            inst.parent_id, inst.parent_task = parent[0], parent[2]
            inst.parent_execution = owner.execution_id if owner is not None else ""
            inst.root_id = (owner.root_id or owner.instance_id) if owner is not None else parent[0]
        inst.replayer = ActionReplayer(instance_id)
        self._instances[instance_id] = inst
        self._enqueue_event(inst, self._execution_started(inst, now))
        return inst

    def _execution_started(self, inst: Instance, now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "Name": inst.name, "Input": inst.input, "Version": "",
            "OrchestrationInstance": {"InstanceId": inst.instance_id, "ExecutionId": inst.execution_id},
        }
        if inst.parent_id is not None:
            fields["ParentInstance"] = {"OrchestrationInstance": {"InstanceId": inst.parent_id},
                                        "TaskScheduleId": inst.parent_task}
        return make_event(EventType.EXECUTION_STARTED, now, **fields)

    def _stop_execution(self, inst: Instance) -> None:
        """Invalidate everything in flight for the current execution."""
        inst.generation += 1
        inst.pending.clear()
        inst.event_keys.clear()
        inst.inflight = 0
        if inst.holding is not None:
            inst.holding.cancel()
            inst.holding = None
        for handle in inst.timers.values():
            handle.cancel()
        inst.timers.clear()

    def _enqueue_event(self, inst: Instance, event: dict[str, Any]) -> None:
        inst.pending.append(event)
        self._schedule(inst)

    def _schedule(self, inst: Instance) -> None:
        if not inst.queued and not inst.running and inst.holding is None:
            inst.queued = True
            self._queue.append(inst)
            self._wakeup.notify()

    def _deliver(self, instance_id: str, generation: int, event: dict[str, Any],
                 activity: bool = False) -> None:
        """Hand a completion to an instance; stale ones (old execution) are dropped."""
        with self._lock:
            inst = self._instances.get(instance_id)
            if (inst is None or inst.generation != generation or inst.status.is_terminal
                    or self._abandoned):
                return
            inst.pending.append(event)
            if activity:
                inst.inflight -= 1
                if inst.inflight <= 0 and inst.holding is not None:
                    self._release(inst)
                    return
            self._schedule(inst)

    def _release(self, inst: Instance) -> None:
        """End a batching window: the instance replays with everything gathered."""
        if inst.holding is not None:
            inst.holding.cancel()
            inst.holding = None
        inst.released = True
        self._schedule(inst)

    def _hold(self, inst: Instance) -> bool:
        """Start a batching window if activities are still in flight.

        Under the GIL, completions trickle in while a replay runs, so without
        a window a wide fan-out replays once per handful of completions.  The
        window is the estimated cost of the next replay (waiting longer than
        that would cost more than replaying twice), capped by
        ``max_batch_wait``, and it closes as soon as nothing is in flight.
        """
        if inst.released or self._draining:
            inst.released = False
            return False
        # The next replay parses the whole history: estimate it from the
        # measured cost per history event (the SDK's parse dominates).
        estimate = self._cost_per_event * (len(inst.log) + len(inst.pending) + inst.inflight)
        window = min(self._max_batch_wait, max(inst.last_cost, estimate))
        if inst.inflight <= 0 or window < 0.0005:
            return False

        def expire() -> None:
            with self._lock:
                if inst.holding is handle:
                    self._release(inst)

        handle = self._timers.call_later(window, expire)
        inst.holding = handle
        return True

    def _snapshot(self, inst: Instance, show_history: bool) -> InstanceStatus:
        history = None
        if show_history:
            history = inst.log.events + [dict(e) for e in inst.tail]
        return InstanceStatus(
            name=inst.name, instance_id=inst.instance_id, runtime_status=inst.status,
            created_time=inst.created, last_updated_time=inst.last_updated, input=inst.input,
            output=inst.output, custom_status=inst.custom_status, history=history,
            parent_instance_id=inst.parent_id, replays=inst.replays)

    def _mark_finished(self, inst: Instance, status: RuntimeStatus, output: Any,
                       now: datetime, details: str = "") -> None:
        """Move to a terminal status. Caller holds the lock; :meth:`_tell_finished` announces it."""
        inst.status = status
        inst.output = output
        inst.details = details
        inst.last_updated = now
        inst.log.seal()
        for handle in inst.timers.values():
            handle.cancel()
        inst.timers.clear()

    def _tell_finished(self, inst: Instance) -> list[InstanceStatus]:
        """Tell the parent and wake waiters (once the end is stored). Caller holds the lock."""
        if inst.parent is not None:
            parent_id, parent_gen, task_id = inst.parent
            self._deliver(parent_id, parent_gen, child_event(
                task_id, inst.instance_id, inst.status.value, inst.output, inst.details, self._clock()))
        inst.done.set()
        self._idle.notify_all()
        return [self._snapshot(inst, False)] if self._listeners else []

    def _announce_finished(self, inst: Instance) -> None:
        with self._lock:
            notify = self._tell_finished(inst)
        self._notify(notify)

    def _notify(self, statuses: list[InstanceStatus]) -> None:
        for status in statuses:
            for listener in list(self._listeners):
                try:
                    listener(status)
                except Exception:
                    logger.exception("durable listener failed")

    # ------------------------------------------------------------------ dispatcher

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._wakeup.wait()
                if self._stopping:
                    return
                inst = self._queue.popleft()
                inst.queued = False
                if inst.status.is_terminal or self._instances.get(inst.instance_id) is not inst:
                    self._idle.notify_all()
                    continue
                if self._hold(inst):
                    continue
                inst.running = True
                events, inst.pending = inst.pending, []
                keys, inst.event_keys = inst.event_keys, []
                generation = inst.generation
                self._active += 1
            began = time.perf_counter()
            deferred = False
            try:
                deferred = self._run_episode(inst, generation, events, keys)
            except Exception:  # keep the dispatcher alive whatever happens
                logger.exception("internal error replaying orchestration '%s'", inst.instance_id)
            finally:
                with self._lock:
                    inst.last_cost = time.perf_counter() - began
                    replayed = len(inst.log) + 1
                    if replayed > 50:  # small histories are dominated by fixed costs
                        sample = inst.last_cost / replayed
                        self._cost_per_event = sample if not self._cost_per_event else (
                            0.7 * self._cost_per_event + 0.3 * sample)
                    if not deferred:
                        self._episode_done(inst)

    def _episode_done(self, inst: Instance) -> None:
        """The episode is over (replayed, and stored when there is a store). Caller holds the lock."""
        inst.running = False
        self._active -= 1
        if inst.pending and not inst.status.is_terminal:
            self._schedule(inst)
        self._idle.notify_all()

    def _context_json(self, inst: Instance, episode: list[dict[str, Any]]) -> tuple[str, list[str]]:
        history_json, fragments = inst.log.context_history_json(episode)
        head: dict[str, Any] = {
            "instanceId": inst.instance_id,
            "isReplaying": len(inst.log) > 0,
            "parentInstanceId": inst.parent_id,
            "input": inst.input,
            "upperSchemaVersion": min(self._schema, SCHEMA_V2),
        }
        if self._schema >= SCHEMA_V3:
            head["upperSchemaVersionNew"] = self._schema
        return '{"history": ' + history_json + ", " + json.dumps(head)[1:], fragments

    def _call_orchestrator(self, inst: Instance, context_json: str) -> dict[str, Any]:
        """Invoke the DFApp handle; a user exception arrives as ``$OutOfProcData$`` state."""
        try:
            result = inst.orchestrator(context_json)
        except Exception as exc:
            text = str(exc)
            cause = exc.__cause__ or exc
            logger.error("Orchestrator '%s' (%s) raised: %s", inst.name, inst.instance_id, cause,
                         exc_info=(type(cause), cause, cause.__traceback__))
            at = text.find(_OUT_OF_PROC_MARKER)
            if at >= 0:
                try:
                    state = json.loads(text[at + len(_OUT_OF_PROC_MARKER):])
                    state.setdefault("error", text[:at])
                    return dict(state)
                except ValueError:
                    pass
            return {"isDone": False, "actions": [], "error": f"{type(exc).__name__}: {exc}"}
        if isinstance(result, str):
            return dict(json.loads(result))
        if isinstance(result, Mapping):
            return dict(result)
        raise TypeError(f"orchestrator '{inst.name}' returned {type(result).__name__}, expected JSON state")

    def _replay_actions(self, inst: Instance, state: dict[str, Any], new_events: list[dict[str, Any]],
                        now: datetime) -> tuple[list[Any], list[dict[str, Any]]]:
        """Work and scheduling events of an episode; an adopted instance first rebuilds its replay state from
        the stored history, and what that history had scheduled without a completion is dispatched again."""
        actions = top_level_actions(state)
        work: list[Any] = []
        if inst.replayer is None:
            replayer = ActionReplayer(inst.instance_id)
            work = [ResumeChild(w) if isinstance(w, StartSubOrchestration) else w
                    for w in replayer.rebuild(inst.log.events, actions, now)]
            inst.replayer = replayer
        more, emitted = inst.replayer.apply(new_events, actions, now)
        work.extend(more)
        return work, emitted

    def _run_episode(self, inst: Instance, generation: int, new_events: list[dict[str, Any]],
                     event_keys: list[str]) -> bool:
        """One replay. Returns True when the store writer finishes the episode (stores, then dispatches)."""
        now = max(self._clock(), inst.last_tick + timedelta(microseconds=1))
        inst.last_tick = now
        episode = [make_event(EventType.ORCHESTRATOR_STARTED, now), *new_events]
        if inst.status == RuntimeStatus.PENDING:
            with self._lock:
                if inst.generation != generation:
                    return False
                inst.status = RuntimeStatus.RUNNING
                started = [self._snapshot(inst, False)] if self._listeners else []
            self._notify(started)
        context_json, fragments = self._context_json(inst, episode)
        state = self._call_orchestrator(inst, context_json)

        work: list[Any] = []
        emitted: list[dict[str, Any]] = []
        error = state.get("error")
        if not error:
            try:
                work, emitted = self._replay_actions(inst, state, new_events, now)
            except (NonDeterminismError, UnsupportedActionError) as exc:
                error = str(exc)
                logger.error("Orchestrator '%s' (%s): %s", inst.name, inst.instance_id, exc)

        with self._lock:
            if inst.generation != generation:  # terminated / purged while we replayed
                return False
            inst.replays += 1
            inst.last_updated = now
            if "customStatus" in state:
                inst.custom_status = state["customStatus"]
            execution_id = inst.execution_id
            played = inst.log.commit(episode, fragments)
            played += inst.log.commit(emitted)
            played += inst.log.commit([make_event(EventType.ORCHESTRATOR_COMPLETED, now)])
            finished = True
            if error:
                message = f"Orchestrator function '{inst.name}' failed: {error}"
                played += inst.log.commit([make_event(EventType.EXECUTION_COMPLETED, now, OrchestrationStatus="Failed",
                                                      Result=json.dumps(message))])
                self._mark_finished(inst, RuntimeStatus.FAILED, message, now, details=str(error))
            elif state.get("isDone") and inst.replayer is not None and inst.replayer.continue_as_new:
                self._continue_as_new(inst, now)
                finished = False
            elif state.get("isDone"):
                output = state.get("output")
                played += inst.log.commit([make_event(EventType.EXECUTION_COMPLETED, now,
                                                      OrchestrationStatus="Completed", Result=json.dumps(output))])
                self._mark_finished(inst, RuntimeStatus.COMPLETED, output, now)
            else:
                finished = False
            if not self._persisting(inst) or self._writer is None:
                if finished:
                    notify = self._tell_finished(inst)
                else:
                    self._dispatch(inst, work)
                    notify = []
                deferred = False
            else:
                record = self._record(inst)
                episode_no = inst.episodes
                inst.episodes += 1
                # The state row is rewritten when the instance ends or starts a new execution; Pending ->
                # Running decides nothing and is read back from the history (OrchestrationStore.load/get).
                stored = (finished, inst.execution_id)
                state_changed = stored != inst.stored_state
                inst.stored_state = stored
                deferred = True
                if not finished:
                    # Activities start now, while the episode is being stored: the Azure Storage provider also
                    # sends an episode's messages before it writes the history. An activity runs at least once
                    # anyway, and a host lost before the write replays the same decision from the last stored
                    # episode. Its completion waits for this episode's write (the instance runs one episode at
                    # a time). Timers and sub-orchestrations still wait for the write.
                    self._dispatch(inst, [w for w in work if isinstance(w, ScheduleActivity)])
                    work = [w for w in work if not isinstance(w, ScheduleActivity)]
        if not deferred or self._writer is None:
            self._notify(notify)
            return False
        try:
            self._writer.submit(self._store_episode, inst, generation, record, episode_no, execution_id, played,
                                event_keys, work, finished, state_changed)
        except RuntimeError:  # the writer is shut down: the host is stopping, the store keeps the last episode
            return False
        return True

    def _continue_as_new(self, inst: Instance, now: datetime) -> None:
        assert inst.replayer is not None
        new_input = inst.replayer.continue_as_new_input
        self._stop_execution(inst)
        inst.input = new_input
        inst.execution_id = uuid.uuid4().hex
        inst.log = HistoryLog()
        inst.replayer = ActionReplayer(inst.instance_id)
        inst.status = RuntimeStatus.RUNNING
        inst.pending.append(self._execution_started(inst, now))

    # ------------------------------------------------------------------ dispatching work

    def _dispatch(self, inst: Instance, work: list[Any], plans: Mapping[int, ChildPlan] | None = None) -> None:
        """Hand out the episode's work. Caller holds the lock. While draining nothing starts: the work is
        stored as scheduled and the next host dispatches it."""
        if self._draining:
            return
        gen = inst.generation
        iid = inst.instance_id
        for item in work:
            if isinstance(item, ScheduleActivity):
                inst.inflight += 1
                self._pool.submit(self._run_activity, iid, gen, item)
            elif isinstance(item, ScheduleTimer):
                delay = (item.fire_at - self._clock()).total_seconds()
                event = {"TimerId": item.timer_id, "FireAt": item.fire_at}
                inst.timers[item.timer_id] = self._timers.call_at(
                    time.monotonic() + max(0.0, delay), self._timer_callback(iid, gen, event))
            elif isinstance(item, CancelTimer):
                handle = inst.timers.pop(item.timer_id, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(item, (StartSubOrchestration, ResumeChild)):
                plan = (plans or {}).get(id(item))
                start = item.item if isinstance(item, ResumeChild) else item
                if plan is None:
                    self._start_child(inst, gen, start)
                else:
                    self._apply_child_plan(inst, gen, start, plan)

    def _timer_callback(self, iid: str, gen: int, event: dict[str, Any]) -> Callable[[], None]:
        def fire() -> None:
            early = (event["FireAt"] - self._clock()).total_seconds()
            with self._lock:
                inst = self._instances.get(iid)
                if inst is None or inst.generation != gen or inst.timers.get(event["TimerId"]) is None:
                    return
                if early > 0:  # monotonic and wall clock disagree: never fire before fireAt
                    inst.timers[event["TimerId"]] = self._timers.call_later(early, fire)
                    return
                inst.timers.pop(event["TimerId"], None)
            self._deliver(iid, gen, make_event(EventType.TIMER_FIRED, self._clock(), TimerId=event["TimerId"],
                                               FireAt=format_timestamp(event["FireAt"])))
        return fire

    def _start_child(self, parent: Instance, gen: int, item: StartSubOrchestration,
                     record: InstanceRecord | None = None) -> None:
        try:
            self._create_instance(item.name, item.instance_id, item.input,
                                  parent=(parent.instance_id, gen, item.task_id),
                                  created=record.created if record is not None else None,
                                  execution_id=record.execution_id if record is not None else None,
                                  episodes=record.episodes if record is not None else 0)
        except (OrchestratorNotFoundError, InstanceExistsError, HostStoppingError) as exc:
            self._deliver(parent.instance_id, gen, make_event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, self._clock(),
                TaskScheduledId=item.task_id, Reason=str(exc), Details=""))

    # ------------------------------------------------------------------ activities

    def _run_activity(self, iid: str, gen: int, item: ScheduleActivity) -> None:
        with self._lock:
            if self._draining:
                return  # not started: it stays scheduled in the store for the next host
            self._busy += 1
        try:
            self._call_activity(iid, gen, item)
        finally:
            with self._lock:
                self._busy -= 1
                self._idle.notify_all()

    def _call_activity(self, iid: str, gen: int, item: ScheduleActivity) -> None:
        fn = self._activities.get(item.name)
        if fn is None:
            known = ", ".join(sorted(self._activities)) or "none"
            event = make_event(EventType.TASK_FAILED, self._clock(), TaskScheduledId=item.task_id,
                               Reason=f"The function '{item.name}' doesn't exist, is disabled, or is not an "
                                      f"activity function. Registered activities: {known}",
                               Details="")
        else:
            try:
                result = fn(_decode_input(item.input))
                if inspect.isawaitable(result):
                    result = self._run_coroutine(result)
                event = make_event(EventType.TASK_COMPLETED, self._clock(), TaskScheduledId=item.task_id,
                                   Result=df_dumps(result))
            except Exception as exc:
                logger.warning("Activity '%s' (orchestration %s) failed: %s: %s",
                               item.name, iid, type(exc).__name__, exc)
                event = make_event(EventType.TASK_FAILED, self._clock(), TaskScheduledId=item.task_id,
                                   Reason=f"Activity function '{item.name}' failed: {type(exc).__name__}: {exc}",
                                   Details="".join(traceback.format_exception(exc)))
        self._deliver(iid, gen, event, activity=True)

    def _run_coroutine(self, awaitable: Any) -> Any:
        loop = self.loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result()
        return asyncio.run(_as_coroutine(awaitable))


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _as_coroutine(awaitable: Any) -> Coroutine[Any, Any, Any]:
    return awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)


def _decode_input(text: str | None) -> Any:
    """Decode an activity input like the worker's ActivityTriggerConverter."""
    if text is None:
        return None
    try:
        return df_loads(text)
    except json.JSONDecodeError:
        return text
