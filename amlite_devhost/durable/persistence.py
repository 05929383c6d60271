"""The store-backed half of the dev host's engine: episodes written as they dispatch, adoption after a crash.

Split from ``engine.py`` so the in-memory engine reads on its own. ``StoredInstances``
is mixed into :class:`~.engine.DurableEngine`: it holds what goes through the
:class:`~.store.OrchestrationStore` (the writer jobs that store an episode and
then dispatch its work, the sub-orchestrations they create, the adoption of a
dead owner's instances) and relies on the engine for the rest (declared below).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError

from .history import EventType, HistoryLog, make_event, parse_timestamp
from .instance import Instance, OrchestratorFn, child_event
from .models import InstanceExistsError, InstanceStatus, OrchestratorNotFoundError, RuntimeStatus
from .replayer import ActionReplayer, StartSubOrchestration

if TYPE_CHECKING:
    from .store import InstanceRecord, LoadedInstance, OrchestrationStore

logger = logging.getLogger("amlite.devhost.durable")


@dataclass(slots=True)
class ResumeChild:
    """A sub-orchestration a stored history started that has not reported back (checked before restarting)."""

    item: StartSubOrchestration


@dataclass(slots=True)
class ChildPlan:
    """What the writer found out about a sub-orchestration before it is dispatched (store I/O done)."""

    kind: str  # "create" | "fail" | "finished" | "running"
    record: InstanceRecord | None = None
    reason: str = ""


_RETRYABLE_STATUS = {408, 409, 412, 429, 500, 502, 503, 504}


class StoredInstances:
    """Store I/O of :class:`~.engine.DurableEngine` (see the module docstring)."""

    # -- provided by DurableEngine --
    _lock: threading.RLock
    _instances: dict[str, Instance]
    _orchestrators: dict[str, OrchestratorFn]
    _store: OrchestrationStore | None
    _draining: bool
    _stopping: bool
    _abandoned: bool

    def _now(self) -> datetime:
        raise NotImplementedError

    def _schedule(self, inst: Instance) -> None:
        raise NotImplementedError

    def _stop_execution(self, inst: Instance) -> None:
        raise NotImplementedError

    def _execution_started(self, inst: Instance, now: datetime) -> dict[str, Any]:
        raise NotImplementedError

    def _deliver(self, instance_id: str, generation: int, event: dict[str, Any], activity: bool = False) -> None:
        raise NotImplementedError

    def _dispatch(self, inst: Instance, work: list[Any], plans: Mapping[int, ChildPlan] | None = None) -> None:
        raise NotImplementedError

    def _start_child(self, parent: Instance, gen: int, item: StartSubOrchestration,
                     record: InstanceRecord | None = None) -> None:
        raise NotImplementedError

    def _tell_finished(self, inst: Instance) -> list[InstanceStatus]:
        raise NotImplementedError

    def _episode_done(self, inst: Instance) -> None:
        raise NotImplementedError

    def _notify(self, statuses: list[InstanceStatus]) -> None:
        raise NotImplementedError

    # -- the store --

    def adopt_orphans(self, is_gone: Callable[[str], bool]) -> list[str]:
        """Claim the unfinished stored instances whose owner ``is_gone`` and resume them here.

        A root orchestration and its sub-orchestrations move together (only the
        host that claimed the root claims the rest), each claim an ETag-guarded
        write, so two hosts never resume one instance. Returns the adopted roots.
        """
        store = self._store
        if store is None:
            return []
        with self._lock:
            if self._draining or self._stopping:
                return []
        from .store import families

        records = store.unfinished()
        by_id = {r.instance_id: r for r in records}
        adopted: list[str] = []
        for root_id, family in families(records):
            root = by_id.get(root_id)
            if root is None:
                self._end_strays(family, is_gone)
                continue
            if root.owner == store.owner or not is_gone(root.owner):
                continue
            with self._lock:
                live = self._instances.get(root_id)
                if live is not None and not live.status.is_terminal:
                    continue
            if not store.claim(root):
                continue  # another host was quicker
            claimed = [root] + [r for r in family if r is not root and r.owner != store.owner
                                and is_gone(r.owner) and store.claim(r)]
            loaded = [item for item in (store.load(r.instance_id) for r in claimed) if item is not None]
            self._adopt(loaded)
            logger.info("resuming orchestration '%s' (%d instance(s)) left by host %s",
                        root_id, len(loaded), root.owner)
            adopted.append(root_id)
        return adopted

    def _adopt(self, loaded: list[LoadedInstance]) -> None:
        """Take over instances read back from the store; each replays (and redispatches) on its next episode."""
        with self._lock:
            fresh: list[tuple[Instance, LoadedInstance]] = []
            for item in loaded:
                rec = item.record
                current = self._instances.get(rec.instance_id)
                if current is not None and not current.status.is_terminal:
                    continue
                orchestrator = self._orchestrators.get(rec.name) or missing_orchestrator(
                    rec.name, sorted(self._orchestrators))
                inst = Instance(
                    instance_id=rec.instance_id, name=rec.name, orchestrator=orchestrator, input=rec.input,
                    parent=None, created=rec.created, last_updated=rec.last_updated,
                    status=RuntimeStatus(rec.status), custom_status=rec.custom_status,
                    execution_id=rec.execution_id, root_id=rec.root_id, parent_id=rec.parent_id,
                    parent_execution=rec.parent_execution, parent_task=rec.parent_task_id, episodes=rec.episodes,
                    stored_state=(False, rec.execution_id))
                if item.history:
                    inst.log = HistoryLog.from_events(item.history)
                    inst.last_tick = parse_timestamp(item.history[-1]["Timestamp"])
                else:
                    inst.replayer = ActionReplayer(rec.instance_id)
                if current is not None:
                    self._stop_execution(current)
                self._instances[rec.instance_id] = inst
                fresh.append((inst, item))
            for inst, item in fresh:
                parent = self._instances.get(inst.parent_id) if inst.parent_id else None
                if (parent is not None and not parent.status.is_terminal and inst.parent_task is not None
                        and parent.execution_id == inst.parent_execution):
                    inst.parent = (parent.instance_id, parent.generation, inst.parent_task)
                if inst.replayer is not None:  # never replayed: it starts as new
                    inst.pending.append(self._execution_started(inst, inst.created))
                for key, event in item.events:
                    inst.pending.append(event)
                    inst.event_keys.append(key)
                self._schedule(inst)

    def _end_strays(self, family: list[InstanceRecord], is_gone: Callable[[str], bool]) -> None:
        """Sub-orchestrations of a root that already ended: nobody waits for them, end them Terminated."""
        store = self._store
        assert store is not None
        for rec in family:
            if rec.owner == store.owner or not is_gone(rec.owner) or not store.claim(rec):
                continue
            rec.status = RuntimeStatus.TERMINATED.value
            rec.output = f"its root orchestration '{rec.root_id}' ended while its host was down"
            rec.last_updated = self._now()
            store.save_state(rec)

    def _store_episode(self, inst: Instance, generation: int, record: InstanceRecord, episode_no: int,
                       execution_id: str, played: list[str], event_keys: list[str], work: list[Any],
                       finished: bool, state_changed: bool) -> None:
        """Writer thread: store the episode, then dispatch its work (or announce the end)."""
        store = self._store
        assert store is not None
        stored = False
        plans: dict[int, ChildPlan] = {}
        try:
            with inst.write_lock:
                if self._is_current(inst, generation):
                    stored = self._write(inst, lambda: store.commit(record, episode_no, played, event_keys,
                                                                    execution_id=execution_id,
                                                                    state_changed=state_changed))
            if stored and not finished and not self._draining:
                plans = self._plan_children(inst, work)
            if stored and event_keys:
                store.forget_events(inst.instance_id, event_keys)
        except Exception:
            logger.exception("internal error storing orchestration '%s'", inst.instance_id)
        notify: list[InstanceStatus] = []
        with self._lock:
            if stored and not self._abandoned and inst.generation == generation:
                if finished:
                    notify = self._tell_finished(inst)
                else:
                    self._dispatch(inst, work, plans)
            self._episode_done(inst)
        self._notify(notify)

    def _is_current(self, inst: Instance, generation: int) -> bool:
        with self._lock:
            return (not self._abandoned and self._instances.get(inst.instance_id) is inst
                    and inst.generation == generation)

    def _write(self, inst: Instance, write: Callable[[], None]) -> bool:
        """Run a store write, retrying while storage is unreachable. False once the engine is abandoned.

        A write the service refuses for good (a 4xx other than a conflict) leaves the instance running in
        memory only: it goes on, but a restart will not resume it past its last stored episode."""
        delay, warned = 0.1, 0.0
        while not self._abandoned:
            try:
                write()
                return True
            except HttpResponseError as exc:
                if exc.status_code is not None and exc.status_code < 500 and exc.status_code not in _RETRYABLE_STATUS:
                    logger.error("storing orchestration '%s' was refused (%s); it goes on in memory and will "
                                 "not resume after a restart", inst.instance_id, exc.message or exc)
                    inst.unpersisted = True
                    return True
                error: Exception = exc
            except Exception as exc:  # connection refused, timeouts: storage is down, wait for it
                error = exc
            if time.monotonic() - warned > 10:
                logger.warning("storing orchestration '%s' failed (%s: %s); retrying", inst.instance_id,
                               type(error).__name__, str(error).splitlines()[0] if str(error) else "")
                warned = time.monotonic()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return False

    def _plan_children(self, inst: Instance, work: list[Any]) -> dict[int, ChildPlan]:
        """Store the sub-orchestrations an episode starts (before they run), and find out what became of the
        ones a resumed history had started. Runs on the writer thread, outside the engine lock."""
        store = self._store
        assert store is not None
        plans: dict[int, ChildPlan] = {}
        for item in work:
            if not isinstance(item, (StartSubOrchestration, ResumeChild)):
                continue
            start = item.item if isinstance(item, ResumeChild) else item
            if isinstance(item, ResumeChild):
                existing = store.get(start.instance_id)
                if (existing is not None and existing.parent_id == inst.instance_id
                        and existing.parent_execution in ("", inst.execution_id)):
                    plans[id(item)] = ChildPlan("finished" if existing.is_terminal else "running", existing)
                    continue
            with self._lock:
                known = start.name in self._orchestrators
            if not known:
                continue  # _create_instance refuses it with the list of orchestrators
            record = self._new_record(start.instance_id, start.name, uuid.uuid4().hex, start.input, self._now(),
                                      inst, start.task_id)
            outcome: list[ChildPlan] = []

            def create(record: InstanceRecord = record, outcome: list[ChildPlan] = outcome) -> None:
                try:
                    store.create(record)
                    outcome.append(ChildPlan("create", record))
                except InstanceExistsError as exc:
                    outcome.append(ChildPlan("fail", reason=str(exc)))

            if self._write(inst, create) and outcome:
                plans[id(item)] = outcome[0]
        return plans

    def _apply_child_plan(self, inst: Instance, gen: int, item: StartSubOrchestration, plan: ChildPlan) -> None:
        """Caller holds the lock. A child adopted with its parent reports to it (now, or already did)."""
        if plan.kind == "create" and plan.record is not None:
            self._start_child(inst, gen, item, plan.record)
            return
        here = (inst.instance_id, gen, item.task_id)
        child = self._instances.get(item.instance_id)
        if (plan.kind in ("running", "finished") and child is not None and child.parent_id == inst.instance_id
                and child.parent_execution in ("", inst.execution_id)):
            if not child.status.is_terminal:
                child.parent = here
            elif child.parent != here:  # it ended before it knew where to report
                self._deliver(inst.instance_id, gen, child_event(
                    item.task_id, item.instance_id, child.status.value, child.output, child.details, self._now()))
            return  # (else it has told us already)
        if plan.kind == "finished" and plan.record is not None:
            rec = plan.record
            self._deliver(inst.instance_id, gen, child_event(item.task_id, item.instance_id, rec.status, rec.output,
                                                              rec.details, self._now()))
        elif plan.kind == "running":
            owner = plan.record.owner if plan.record is not None else "another host"
            self._deliver(inst.instance_id, gen, make_event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, self._now(), TaskScheduledId=item.task_id,
                Reason=f"sub-orchestration '{item.instance_id}' is run by {owner}, not by this host", Details=""))
        else:
            self._deliver(inst.instance_id, gen, make_event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, self._now(), TaskScheduledId=item.task_id,
                Reason=plan.reason, Details=""))

    def _new_record(self, instance_id: str, name: str, execution_id: str, input_json: str | None,
                    now: datetime, parent: Instance | None, task_id: int | None = None) -> InstanceRecord:
        from .store import InstanceRecord

        assert self._store is not None
        return InstanceRecord(
            instance_id=instance_id, name=name, execution_id=execution_id, status=RuntimeStatus.PENDING.value,
            input=input_json, created=now, last_updated=now,
            root_id=(parent.root_id or parent.instance_id) if parent is not None else instance_id,
            parent_id=parent.instance_id if parent is not None else None,
            parent_execution=parent.execution_id if parent is not None else "",
            parent_task_id=task_id, owner=self._store.owner)

    def _record(self, inst: Instance) -> InstanceRecord:
        """The instance's state row as it is now. Caller holds the lock."""
        from .store import InstanceRecord

        assert self._store is not None
        return InstanceRecord(
            instance_id=inst.instance_id, name=inst.name, execution_id=inst.execution_id,
            status=inst.status.value, input=inst.input, created=inst.created, last_updated=inst.last_updated,
            root_id=inst.root_id or inst.instance_id, parent_id=inst.parent_id,
            parent_execution=inst.parent_execution, parent_task_id=inst.parent_task, output=inst.output,
            custom_status=inst.custom_status, details=inst.details, owner=self._store.owner,
            episodes=inst.episodes)

    def _persisting(self, inst: Instance) -> bool:
        return self._store is not None and not inst.unpersisted and not self._abandoned


def missing_orchestrator(name: str, known: list[str]) -> OrchestratorFn:
    """Stands in for an orchestrator a stored instance names and this app lacks: its replay fails, saying so."""
    def fail(context_json: str) -> str:
        raise OrchestratorNotFoundError(
            f"the stored orchestration names '{name}', which this app does not register "
            f"(registered orchestrators: {', '.join(known) or 'none'})")
    return fail


def stored_status(record: InstanceRecord) -> InstanceStatus:
    return InstanceStatus(
        name=record.name, instance_id=record.instance_id, runtime_status=RuntimeStatus(record.status),
        created_time=record.created, last_updated_time=record.last_updated, input=record.input,
        output=record.output, custom_status=record.custom_status, parent_instance_id=record.parent_id)
