"""One orchestration instance as the dev host's engine holds it, and what its parent hears when it ends."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..scheduling import TimerHandle
from .history import EventType, HistoryLog, make_event
from .models import RuntimeStatus
from .replayer import ActionReplayer

OrchestratorFn = Callable[[str], str]


@dataclass(eq=False)
class Instance:
    """Runtime state of one instance (execution, history, pending events, timers) and what its store needs."""

    instance_id: str
    name: str
    orchestrator: OrchestratorFn
    input: str | None
    parent: tuple[str, int, int] | None  # parent id, parent generation, task id (where to report)
    created: datetime
    last_updated: datetime
    status: RuntimeStatus = RuntimeStatus.PENDING
    output: Any = None
    custom_status: Any = None
    details: str = ""
    generation: int = 0
    execution_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    log: HistoryLog = field(default_factory=HistoryLog)
    replayer: ActionReplayer | None = None  # None: adopted from the store, rebuilt by the next episode
    pending: list[dict[str, Any]] = field(default_factory=list)
    tail: list[dict[str, Any]] = field(default_factory=list)  # terminate/purge markers
    queued: bool = False
    running: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    last_tick: datetime = datetime.min.replace(tzinfo=timezone.utc)
    timers: dict[int, TimerHandle] = field(default_factory=dict)
    replays: int = 0
    inflight: int = 0  # activities dispatched and not yet completed
    holding: TimerHandle | None = None  # batching window in progress
    released: bool = False
    last_cost: float = 0.0  # seconds the last episode took
    # -- what the store needs --
    root_id: str = ""
    parent_id: str | None = None
    parent_execution: str = ""
    parent_task: int | None = None
    episodes: int = 0  # episodes stored so far (the next one's number)
    event_keys: list[str] = field(default_factory=list)  # stored rows of the raised events in ``pending``
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    stored_state: tuple[bool, str] = (False, "")  # (ended, execution id) as the state row holds them
    unpersisted: bool = False  # a write failed for good: it goes on in memory, later episodes unstored (no gaps)


def child_event(task_id: int, instance_id: str, status: str, output: Any, details: str,
                 now: datetime) -> dict[str, Any]:
    """What a parent's history records when a sub-orchestration ends."""
    if status == RuntimeStatus.COMPLETED.value:
        return make_event(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, now,
                          TaskScheduledId=task_id, Result=json.dumps(output))
    reason = output if isinstance(output, str) else json.dumps(output)
    if status == RuntimeStatus.TERMINATED.value:
        reason = f"Sub-orchestration '{instance_id}' was terminated: {reason}"
    return make_event(EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, now,
                      TaskScheduledId=task_id, Reason=reason, Details=details)
