"""Build Durable histories the way the extension records them, for replay tests.

Shared by the dev host's protocol tests and the pipeline orchestrator's replay tests.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from amlite_devhost.durable.history import EventType, format_timestamp

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class History:
    """Build a history the way the extension records it."""

    def __init__(self, name: str, input_json: str | None = None) -> None:
        self.name = name
        self.input = input_json
        self.events: list[dict[str, Any]] = []
        self.t = T0
        self.started(execution=True)

    def _event(self, etype: EventType, event_id: int = -1, **fields: Any) -> None:
        self.events.append({"EventType": int(etype), "EventId": event_id, "IsPlayed": False,
                            "Timestamp": format_timestamp(self.t), **fields})

    def started(self, execution: bool = False) -> History:
        for e in self.events:
            e["IsPlayed"] = True
        self.t += timedelta(seconds=1)
        self._event(EventType.ORCHESTRATOR_STARTED)
        if execution:
            self._event(EventType.EXECUTION_STARTED, Name=self.name, Input=self.input, Version="")
        return self

    def completed(self) -> History:
        self._event(EventType.ORCHESTRATOR_COMPLETED)
        return self

    def scheduled(self, task_id: int, name: str, input_json: str) -> History:
        self._event(EventType.TASK_SCHEDULED, task_id, Name=name, Input=input_json)
        return self

    def task_done(self, task_id: int, result: Any) -> History:
        self._event(EventType.TASK_COMPLETED, TaskScheduledId=task_id, Result=json.dumps(result))
        return self

    def task_failed(self, task_id: int, reason: str) -> History:
        self._event(EventType.TASK_FAILED, TaskScheduledId=task_id, Reason=reason, Details="trace")
        return self

    def sub_scheduled(self, task_id: int, name: str, input_json: str, instance_id: str = "child-1") -> History:
        self._event(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, task_id, Name=name, InstanceId=instance_id,
                    Input=input_json)
        return self

    def sub_done(self, task_id: int, result: Any) -> History:
        self._event(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, TaskScheduledId=task_id,
                    Result=json.dumps(result))
        return self

    def timer(self, timer_id: int, fire_at: datetime) -> History:
        self._event(EventType.TIMER_CREATED, timer_id, FireAt=format_timestamp(fire_at))
        return self

    def timer_fired(self, timer_id: int, fire_at: datetime) -> History:
        self._event(EventType.TIMER_FIRED, TimerId=timer_id, FireAt=format_timestamp(fire_at))
        return self

    def event_raised(self, name: str, data: Any) -> History:
        self._event(EventType.EVENT_RAISED, Name=name, Input=json.dumps(data))
        return self

    def context(self, schema: int = 1, new: int | None = None) -> str:
        body: dict[str, Any] = {"history": self.events, "instanceId": "inst-1", "isReplaying": False,
                                "parentInstanceId": None, "input": self.input, "upperSchemaVersion": schema}
        if new is not None:
            body["upperSchemaVersionNew"] = new
        return json.dumps(body)
