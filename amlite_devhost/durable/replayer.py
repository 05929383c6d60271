"""The extension side of out-of-process replay: actions in, scheduled work out.

The Python SDK replays the history and returns *all* actions the
orchestrator has requested so far.  The Durable extension
(``OutOfProcOrchestrationShim``) then invokes those actions against the
Durable Task Framework context in order, awaiting each top-level action
before invoking the next (schema V2/V3; V1 awaits "any" of each action set).
Task ids come from one sequence counter in invocation order, and retry
timers take the next id at the moment the failure is replayed.  The SDK
numbers its tasks the same way, so ``TaskScheduledId``/``TimerId`` values we
write into history match the SDK's open tasks.

:class:`ActionReplayer` keeps that state incrementally per execution: the
invoked top-level actions, a cursor at the first unfinished one, and a map
from task id to the node waiting for it.  Each episode feeds it the new
history events (in order) plus the SDK's action list; it returns the work to
dispatch and the history events to record (TaskScheduled, TimerCreated...).
It also checks that previously invoked actions are unchanged: a changed
action means the orchestrator is not deterministic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .history import EventType, format_timestamp, make_event, parse_timestamp
from .models import NonDeterminismError

# Action types as the SDK's ActionType enum numbers them.
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
SCHEDULED_SIGNAL_ENTITY = 10
WHEN_ANY = 11
WHEN_ALL = 12

_UNSUPPORTED = {
    CALL_ENTITY: "call_entity (durable entities)",
    CALL_HTTP: "call_http (durable HTTP)",
    SIGNAL_ENTITY: "signal_entity (durable entities)",
    SCHEDULED_SIGNAL_ENTITY: "signal_entity (durable entities)",
}


# History events that feed the replay (inputs) and those the replay itself writes (scheduling).
_INPUT_EVENTS = frozenset({
    EventType.EXECUTION_STARTED, EventType.TASK_COMPLETED, EventType.TASK_FAILED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
    EventType.TIMER_FIRED, EventType.EVENT_RAISED,
})
_SCHEDULING_EVENTS = frozenset({
    EventType.TASK_SCHEDULED, EventType.TIMER_CREATED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
})


class UnsupportedActionError(Exception):
    """The orchestrator used an API the dev host does not implement."""


# ---- work items handed to the engine -------------------------------------------------


@dataclass(slots=True)
class ScheduleActivity:
    task_id: int
    name: str
    input: str | None


@dataclass(slots=True)
class ScheduleTimer:
    timer_id: int
    fire_at: datetime


@dataclass(slots=True)
class CancelTimer:
    timer_id: int


@dataclass(slots=True)
class StartSubOrchestration:
    task_id: int
    name: str
    instance_id: str
    input: str | None


Work = ScheduleActivity | ScheduleTimer | CancelTimer | StartSubOrchestration


# ---- nodes: one per invoked action ---------------------------------------------------


class _Node:
    """An invoked action; ``finish`` propagates completion to the parent or the cursor."""

    __slots__ = ("action", "parent", "done", "failed")

    def __init__(self, action: Any) -> None:
        self.action = action
        self.parent: _Compound | None = None
        self.done = False
        self.failed = False

    def start(self, r: ActionReplayer) -> None:
        raise NotImplementedError

    def on_event(self, r: ActionReplayer, event: dict[str, Any]) -> None:
        """A history event addressed to this node's current task id."""

    def sync(self, r: ActionReplayer, action: Any) -> None:
        """Adopt a newer copy of the same action (only ``isCanceled`` may differ)."""
        self.action = action

    @property
    def awaitable(self) -> bool:
        return True

    def finish(self, r: ActionReplayer, failed: bool) -> None:
        if self.done:
            return
        self.done = True
        self.failed = failed
        if self.parent is not None:
            self.parent.child_done(r, self)
        else:
            r._advance()


class _Activity(_Node):
    __slots__ = ("task_id",)

    def start(self, r: ActionReplayer) -> None:
        a = self.action
        self.task_id = r.schedule_activity(self, a["functionName"], a.get("input"))

    def on_event(self, r: ActionReplayer, event: dict[str, Any]) -> None:
        self.finish(r, event["EventType"] == EventType.TASK_FAILED)


class _SubOrchestration(_Node):
    __slots__ = ("task_id",)

    def start(self, r: ActionReplayer) -> None:
        a = self.action
        self.task_id = r.schedule_sub_orchestration(self, a["functionName"], a.get("instanceId"), a.get("input"))

    def on_event(self, r: ActionReplayer, event: dict[str, Any]) -> None:
        self.finish(r, event["EventType"] == EventType.SUB_ORCHESTRATION_INSTANCE_FAILED)


class _Timer(_Node):
    __slots__ = ("timer_id",)

    def start(self, r: ActionReplayer) -> None:
        fire_at = parse_timestamp(self.action["fireAt"])
        if self.action.get("isCanceled"):
            # The shim cancels the token right after creating the timer: the
            # id is used, the task completes (canceled) at once.
            self.timer_id = r.alloc()
            r.emit(EventType.TIMER_CREATED, self.timer_id, FireAt=self.action["fireAt"])
            self.finish(r, True)
            return
        self.timer_id = r.schedule_timer(self, fire_at)

    def on_event(self, r: ActionReplayer, event: dict[str, Any]) -> None:
        self.finish(r, False)

    def sync(self, r: ActionReplayer, action: Any) -> None:
        if action.get("isCanceled") and not self.done and r.by_id.get(self.timer_id) is self:
            # Nothing awaits a canceled timer; dropping it saves a useless replay.
            del r.by_id[self.timer_id]
            r.work.append(CancelTimer(self.timer_id))
        self.action = action


class _ExternalEvent(_Node):
    __slots__ = ()

    def start(self, r: ActionReplayer) -> None:
        name = self.action["externalEventName"]
        buffered = r.event_buffer.get(name)
        if buffered:
            buffered.popleft()
            if not buffered:
                del r.event_buffer[name]
            self.finish(r, False)
        else:
            r.event_waiters.setdefault(name, deque()).append(self)

    def on_event(self, r: ActionReplayer, event: dict[str, Any]) -> None:
        self.finish(r, False)


class _ContinueAsNew(_Node):
    __slots__ = ()

    def start(self, r: ActionReplayer) -> None:
        r.continue_as_new = True
        r.continue_as_new_input = self.action.get("input")
        self.finish(r, False)

    @property
    def awaitable(self) -> bool:
        return False


class _Retry(_Node):
    """CallActivityWithRetry / CallSubOrchestratorWithRetry, like DTFx's RetryInterceptor.

    After every failed attempt a timer is created (even after the last one,
    as DTFx does and the SDK expects); when it fires, either the next attempt
    is scheduled or the task fails.
    """

    __slots__ = ("sub_orchestration", "attempt", "waiting_timer", "current_id")

    def __init__(self, action: Any, sub_orchestration: bool) -> None:
        super().__init__(action)
        self.sub_orchestration = sub_orchestration
        self.attempt = 1
        self.waiting_timer = False
        self.current_id = -1

    def start(self, r: ActionReplayer) -> None:
        self._schedule_attempt(r)

    def _schedule_attempt(self, r: ActionReplayer) -> None:
        a = self.action
        if self.sub_orchestration:
            self.current_id = r.schedule_sub_orchestration(self, a["functionName"], a.get("instanceId"), a.get("input"))
        else:
            self.current_id = r.schedule_activity(self, a["functionName"], a.get("input"))

    def delay(self) -> timedelta:
        opts = self.action.get("retryOptions") or {}
        first = float(opts.get("firstRetryIntervalInMilliseconds", 1000))
        backoff = float(opts.get("backoffCoefficient", 1.0) or 1.0)
        ms = first * backoff ** (self.attempt - 1)
        cap = opts.get("maxRetryIntervalInMilliseconds")
        if cap is not None:
            ms = min(ms, float(cap))
        return timedelta(milliseconds=ms)

    @property
    def max_attempts(self) -> int:
        return int((self.action.get("retryOptions") or {}).get("maxNumberOfAttempts", 1))

    def on_event(self, r: ActionReplayer, event: dict[str, Any]) -> None:
        etype = event["EventType"]
        if self.waiting_timer and etype == EventType.TIMER_FIRED:
            self.waiting_timer = False
            if self.attempt >= self.max_attempts:
                self.finish(r, True)
            else:
                self.attempt += 1
                self._schedule_attempt(r)
        elif etype in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
            self.finish(r, False)
        elif etype in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            self.waiting_timer = True
            self.current_id = r.schedule_timer(self, r.now + self.delay())


class _Compound(_Node):
    __slots__ = ("children", "pending", "starting")

    def __init__(self, action: Any, children: list[_Node]) -> None:
        super().__init__(action)
        self.children = children
        self.pending = sum(1 for c in children if c.awaitable)
        self.starting = False
        for child in children:
            child.parent = self

    def start(self, r: ActionReplayer) -> None:
        # Invoke every child first (Task.WhenAll/WhenAny enumerate them all),
        # only then look at completion.
        self.starting = True
        for child in self.children:
            child.start(r)
        self.starting = False
        self._check(r)

    def child_done(self, r: ActionReplayer, child: _Node) -> None:
        if child.awaitable:
            self.pending -= 1
        if not self.starting:
            self._check(r)

    def _check(self, r: ActionReplayer) -> None:
        raise NotImplementedError

    def _child_actions(self, action: Any) -> list[Any]:
        return list(action.get("compoundActions") or [])

    def sync(self, r: ActionReplayer, action: Any) -> None:
        for child, child_action in zip(self.children, self._child_actions(action), strict=False):
            if child_action is not child.action and child_action != child.action:
                child.sync(r, child_action)
        self.action = action


class _WhenAll(_Compound):
    __slots__ = ()

    def _check(self, r: ActionReplayer) -> None:
        if not self.done and self.pending <= 0:
            self.finish(r, any(c.failed for c in self.children if c.awaitable))


class _WhenAny(_Compound):
    __slots__ = ()

    def _check(self, r: ActionReplayer) -> None:
        total = sum(1 for c in self.children if c.awaitable)
        if not self.done and (total == 0 or self.pending < total):
            self.finish(r, False)


class _V1ActionSet(_WhenAny):
    """Schema V1: one list of actions per yield; the shim awaits any of them."""

    __slots__ = ()

    def _child_actions(self, action: Any) -> list[Any]:
        return list(action)


def _build(action: Any) -> _Node:
    if isinstance(action, list):
        return _V1ActionSet(action, [_build(a) for a in action])
    kind = action.get("actionType")
    if kind == CALL_ACTIVITY:
        return _Activity(action)
    if kind == CALL_ACTIVITY_WITH_RETRY:
        return _Retry(action, sub_orchestration=False)
    if kind == CALL_SUB_ORCHESTRATOR:
        return _SubOrchestration(action)
    if kind == CALL_SUB_ORCHESTRATOR_WITH_RETRY:
        return _Retry(action, sub_orchestration=True)
    if kind == CONTINUE_AS_NEW:
        return _ContinueAsNew(action)
    if kind == CREATE_TIMER:
        return _Timer(action)
    if kind == WAIT_FOR_EXTERNAL_EVENT:
        return _ExternalEvent(action)
    if kind == WHEN_ALL:
        return _WhenAll(action, [_build(a) for a in action.get("compoundActions") or []])
    if kind == WHEN_ANY:
        return _WhenAny(action, [_build(a) for a in action.get("compoundActions") or []])
    if kind in _UNSUPPORTED:
        raise UnsupportedActionError(
            f"{_UNSUPPORTED[kind]} is not supported by the amlite dev host; "
            "run this orchestration under the Functions host (func start) instead")
    raise UnsupportedActionError(f"Unknown orchestrator action type {kind!r} in {action!r}")


def _abandoned(node: _Node) -> bool:
    """True when the node or an ancestor already finished (a WhenAny loser)."""
    current: _Node | None = node
    while current is not None:
        if current.done:
            return True
        current = current.parent
    return False


def _without_cancel(action: Any) -> Any:
    if isinstance(action, list):
        return [_without_cancel(a) for a in action]
    if isinstance(action, dict):
        return {k: _without_cancel(v) for k, v in action.items() if k != "isCanceled"}
    return action


def top_level_actions(state: dict[str, Any]) -> list[Any]:
    """The action list to replay: V2/V3 nest one flat list; V1 is a list of action sets."""
    actions = state.get("actions") or []
    if int(state.get("schemaVersion", 0) or 0) >= 1:
        if len(actions) > 1:
            raise NonDeterminismError(f"schema V2+ expects one action list, got {len(actions)}")
        return list(actions[0]) if actions else []
    return list(actions)


class ActionReplayer:
    """Incremental extension-side replay for one orchestration execution."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.next_id = 0
        self.top: list[_Node] = []
        self.cursor = 0
        self.actions: list[Any] = []
        self.by_id: dict[int, _Node] = {}
        self.event_waiters: dict[str, deque[_Node]] = {}
        self.event_buffer: dict[str, deque[str | None]] = {}
        self.continue_as_new = False
        self.continue_as_new_input: str | None = None
        self.now = datetime.min
        self.work: list[Work] = []
        self.emitted: list[dict[str, Any]] = []
        self._advancing = False

    # -- helpers used by nodes --
    def alloc(self) -> int:
        task_id = self.next_id
        self.next_id += 1
        return task_id

    def emit(self, event_type: EventType, event_id: int, **fields: Any) -> None:
        self.emitted.append(make_event(event_type, self.now, event_id, **fields))

    def schedule_activity(self, node: _Node, name: str, input_json: str | None) -> int:
        task_id = self.alloc()
        self.by_id[task_id] = node
        self.emit(EventType.TASK_SCHEDULED, task_id, Name=name, Input=input_json)
        self.work.append(ScheduleActivity(task_id, name, input_json))
        return task_id

    def schedule_sub_orchestration(self, node: _Node, name: str, instance_id: str | None,
                                   input_json: str | None) -> int:
        task_id = self.alloc()
        child_id = instance_id or f"{self.instance_id}:{task_id}"
        self.by_id[task_id] = node
        self.emit(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, task_id, Name=name,
                  InstanceId=child_id, Input=input_json)
        self.work.append(StartSubOrchestration(task_id, name, child_id, input_json))
        return task_id

    def schedule_timer(self, node: _Node, fire_at: datetime) -> int:
        timer_id = self.alloc()
        self.by_id[timer_id] = node
        self.emit(EventType.TIMER_CREATED, timer_id, FireAt=format_timestamp(fire_at))
        self.work.append(ScheduleTimer(timer_id, fire_at))
        return timer_id

    # -- the episode --
    def apply(self, new_events: list[dict[str, Any]], actions: list[Any],
              now: datetime) -> tuple[list[Work], list[dict[str, Any]]]:
        """Replay one episode's new events against the SDK's ``actions``.

        Returns the work to dispatch and the history events to append after
        the episode's events.  Raises :class:`NonDeterminismError` when an
        already-invoked action changed.
        """
        self.now = now
        self.work = []
        self.emitted = []
        self._check_and_sync(actions)
        self.actions = actions
        self._feed(new_events)
        self._advance()
        return self.work, self.emitted

    def rebuild(self, history: list[dict[str, Any]], actions: list[Any], now: datetime) -> list[Work]:
        """Recreate, from a stored history, the state a host had after playing it; returns the work it
        had scheduled that has no completion in the history (to dispatch again after a host restart).

        All of ``history`` is fed at once against the SDK's current ``actions``, the way the extension's
        shim replays the whole action list on every episode. The scheduling events this produces must be
        the ones the history recorded (same types, same ids), else the orchestrator is not deterministic.
        Timers keep the ``FireAt`` the history recorded.
        """
        if self.top:
            raise RuntimeError("rebuild() needs a fresh replayer")
        self.now = now
        self.work = []
        self.emitted = []
        self.actions = actions
        self._feed([e for e in history if e["EventType"] in _INPUT_EVENTS])
        self._advance()
        recorded = [(e["EventType"], e["EventId"]) for e in history if e["EventType"] in _SCHEDULING_EVENTS]
        replayed = [(e["EventType"], e["EventId"]) for e in self.emitted]
        if recorded != replayed:
            raise NonDeterminismError(
                f"replaying the stored history of '{self.instance_id}' scheduled {len(replayed)} tasks where the "
                f"history recorded {len(recorded)} (first difference at #"
                f"{next((i for i, (a, b) in enumerate(zip(recorded, replayed)) if a != b), min(len(recorded), len(replayed)))}"
                "): the orchestrator code changed or is not deterministic")
        fire_at = {e["EventId"]: parse_timestamp(e["FireAt"]) for e in history
                   if e["EventType"] == EventType.TIMER_CREATED and e.get("FireAt")}
        outstanding: list[Work] = []
        for item in self.work:
            if isinstance(item, ScheduleTimer):
                if item.timer_id in self.by_id:
                    outstanding.append(ScheduleTimer(item.timer_id, fire_at.get(item.timer_id, item.fire_at)))
            elif isinstance(item, (ScheduleActivity, StartSubOrchestration)) and item.task_id in self.by_id:
                outstanding.append(item)
        self.work = []
        self.emitted = []
        return outstanding

    def _feed(self, new_events: list[dict[str, Any]]) -> None:
        for event in new_events:
            etype = event["EventType"]
            if etype == EventType.EXECUTION_STARTED:
                self._advance()
            elif etype in (EventType.TASK_COMPLETED, EventType.TASK_FAILED,
                           EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                           EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
                node = self.by_id.pop(event["TaskScheduledId"], None)
                if node is not None:
                    node.on_event(self, event)
            elif etype == EventType.TIMER_FIRED:
                node = self.by_id.pop(event["TimerId"], None)
                if node is not None:
                    node.on_event(self, event)
            elif etype == EventType.EVENT_RAISED:
                self._event_raised(event)

    def _event_raised(self, event: dict[str, Any]) -> None:
        name = event.get("Name") or ""
        waiters = self.event_waiters.get(name)
        # Skip waiters nobody awaits any more (the losing side of a finished
        # WhenAny), so a later wait for the same name gets the event, as in the SDK.
        while waiters and _abandoned(waiters[0]):
            waiters.popleft()
        if waiters:
            node = waiters.popleft()
            if not waiters:
                del self.event_waiters[name]
            node.on_event(self, event)
        else:
            self.event_waiters.pop(name, None)
            self.event_buffer.setdefault(name, deque()).append(event.get("Input"))

    def _check_and_sync(self, actions: list[Any]) -> None:
        if len(actions) < len(self.top):
            raise NonDeterminismError(
                f"the orchestrator returned {len(actions)} actions but {len(self.top)} were already "
                "scheduled: orchestrator code must be deterministic (no clocks, random, I/O)")
        for index, node in enumerate(self.top):
            new = actions[index]
            if new is node.action or new == node.action:
                continue
            if _without_cancel(new) != _without_cancel(node.action):
                raise NonDeterminismError(
                    f"action #{index} changed between replays: was {node.action!r}, now {new!r}; "
                    "orchestrator code must be deterministic (no clocks, random, I/O)")
            node.sync(self, new)

    def _advance(self) -> None:
        """Invoke the next actions while the awaited one has completed (sequential await)."""
        if self._advancing:
            return
        self._advancing = True
        try:
            while True:
                while self.cursor < len(self.top) and self.top[self.cursor].done:
                    self.cursor += 1
                if self.cursor < len(self.top) or len(self.top) >= len(self.actions):
                    return
                node = _build(self.actions[len(self.top)])
                self.top.append(node)
                node.start(self)
        finally:
            self._advancing = False

    @property
    def waiting(self) -> bool:
        """True when some invoked action is still incomplete."""
        return self.cursor < len(self.top)
