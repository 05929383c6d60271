"""Status records and errors of the dev host's durable engine.

Names and JSON keys follow the Durable extension's HTTP API so that
``DurableOrchestrationStatus.from_json`` reads them unchanged.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .history import EventType, format_timestamp


class RuntimeStatus(str, enum.Enum):
    """``OrchestrationRuntimeStatus`` values as the extension spells them."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.FAILED,
                       RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED})


class DurableError(Exception):
    """Base class: something a caller of the engine did wrong (maps to 4xx)."""

    http_status = 400


class OrchestratorNotFoundError(DurableError):
    http_status = 400


class InstanceExistsError(DurableError):
    """Starting an ID that is still running.

    Answered with 400 + ``ExceptionMessage`` so ``DurableOrchestrationClient.start_new``
    raises it as a plain message (it only unwraps that shape).
    """

    http_status = 400


class InstanceNotFoundError(DurableError):
    http_status = 404


class InstanceCompletedError(DurableError):
    """The instance already finished; Durable answers 410 Gone."""

    http_status = 410


class HostStoppingError(DurableError):
    """The host is shutting down and takes no new orchestrations (the caller retries on another host)."""

    http_status = 503


class NonDeterminismError(Exception):
    """The orchestrator produced different actions for the same history."""


def _decode(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass
class InstanceStatus:
    """A snapshot of one instance, shaped like the extension's status payload."""

    name: str
    instance_id: str
    runtime_status: RuntimeStatus
    created_time: datetime
    last_updated_time: datetime
    input: str | None = None
    output: Any = None
    custom_status: Any = None
    history: list[dict[str, Any]] | None = None
    parent_instance_id: str | None = None
    replays: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_value(self) -> Any:
        """The decoded input (instances keep it as JSON text, as the extension does)."""
        return _decode(self.input)

    def to_json(self, show_input: bool = True, show_history_output: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input_value if show_input else None,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": format_timestamp(self.created_time)[:-8] + "Z",
            "lastUpdatedTime": format_timestamp(self.last_updated_time)[:-8] + "Z",
        }
        if self.history is not None:
            body["historyEvents"] = [_public_event(e, show_history_output) for e in self.history]
        return body


_EVENT_NAMES = {int(t): t.name for t in EventType}
_PASCAL = {
    "EXECUTION_STARTED": "ExecutionStarted", "EXECUTION_COMPLETED": "ExecutionCompleted",
    "EXECUTION_FAILED": "ExecutionFailed", "EXECUTION_TERMINATED": "ExecutionTerminated",
    "TASK_SCHEDULED": "TaskScheduled", "TASK_COMPLETED": "TaskCompleted", "TASK_FAILED": "TaskFailed",
    "SUB_ORCHESTRATION_INSTANCE_CREATED": "SubOrchestrationInstanceCreated",
    "SUB_ORCHESTRATION_INSTANCE_COMPLETED": "SubOrchestrationInstanceCompleted",
    "SUB_ORCHESTRATION_INSTANCE_FAILED": "SubOrchestrationInstanceFailed",
    "TIMER_CREATED": "TimerCreated", "TIMER_FIRED": "TimerFired",
    "ORCHESTRATOR_STARTED": "OrchestratorStarted", "ORCHESTRATOR_COMPLETED": "OrchestratorCompleted",
    "EVENT_SENT": "EventSent", "EVENT_RAISED": "EventRaised", "CONTINUE_AS_NEW": "ContinueAsNew",
    "GENERIC_EVENT": "GenericEvent", "HISTORY_STATE": "HistoryState",
    "EXECUTION_SUSPENDED": "ExecutionSuspended", "EXECUTION_RESUMED": "ExecutionResumed",
}


def event_type_name(event_type: int) -> str:
    raw = _EVENT_NAMES.get(event_type, str(event_type))
    return _PASCAL.get(raw, raw)


def _public_event(event: dict[str, Any], show_output: bool) -> dict[str, Any]:
    """History as ``showHistory=true`` returns it: named event types, payloads on request."""
    out = {k: v for k, v in event.items() if k != "IsPlayed"}
    out["EventType"] = event_type_name(int(event["EventType"]))
    if not show_output:
        out.pop("Result", None)
        out.pop("Input", None)
    else:
        for key in ("Result", "Input"):
            if isinstance(out.get(key), str):
                out[key] = _decode(out[key])
    return out
