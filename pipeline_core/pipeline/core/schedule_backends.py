"""Where ``Schedule`` reads and writes: the tables (local workspace) or the REST API (remote workspace).

Both answer with the REST API's JSON shapes (``rest.schedules.entities``), so
``Schedule`` is built the same way on both sides and cannot behave differently.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipeline_core.rest.schedules.body import ATTR_FIELDS
from pipeline_core.rest.schedules.entities import decision_entity, recurrence_entity, schedule_entity
from pipeline_core.schedules.validation import ScheduleDefinition, ScheduleValidationError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.engine.services import Services

Entity = dict[str, Any]


class LocalSchedules:
    """Straight to the workspace's storage; a run-now fire starts in this process."""

    def __init__(self, workspace: Workspace):
        from pipeline_core.pipeline.core.published_pipeline import _services, api_base

        self.base = api_base(workspace)
        self.services: Services = _services(workspace)

    def _entity(self, record: Any) -> Entity:
        return schedule_entity(record, self.base)

    def create(self, definition: ScheduleDefinition) -> Entity:
        from pipeline_core.schedules.firing import local_starter
        from pipeline_core.schedules.manage import create_schedule

        return self._entity(create_schedule(self.services, definition, starter=local_starter(self.services)))

    def get(self, schedule_id: str) -> Entity:
        from pipeline_core.schedules.manage import schedule_store

        return self._entity(schedule_store(self.services).get(schedule_id))

    def list(self, active_only: bool, pipeline_id: str | None, pipeline_endpoint_id: str | None) -> builtins.list[Entity]:
        from pipeline_core.schedules.manage import schedule_store

        records = schedule_store(self.services).list(active_only, pipeline_id, pipeline_endpoint_id)
        return [self._entity(r) for r in records]

    def update(self, schedule_id: str, changes: dict[str, Any], status: str | None) -> Entity:
        from pipeline_core.schedules.manage import update_schedule

        return self._entity(update_schedule(self.services, schedule_id, changes, status=status))

    def set_status(self, schedule_id: str, enable: bool) -> Entity:
        from pipeline_core.schedules.manage import set_schedule_status

        return self._entity(set_schedule_status(self.services, schedule_id, enable))

    def runs(self, schedule_id: str, top: int) -> builtins.list[tuple[str, str]]:
        from pipeline_core.errors import NotFoundError
        from pipeline_core.schedules.manage import fired_run_ids, schedule_store

        schedule_store(self.services).get(schedule_id)
        found = []
        for run_id in fired_run_ids(self.services, schedule_id, top):
            try:
                found.append((run_id, str(self.services.runs.get_run(run_id)["experiment"])))
            except NotFoundError:
                continue
        return found

    def next(self, schedule_id: str, count: int) -> builtins.list[dict[str, str]]:
        from pipeline_core.rest.schedules.handlers import fire_time_entries
        from pipeline_core.schedules.manage import schedule_store

        return list(fire_time_entries(schedule_store(self.services).get(schedule_id), count)["Value"])

    def history(self, schedule_id: str, top: int) -> builtins.list[Entity]:
        from pipeline_core.schedules.manage import history

        return [decision_entity(d) for d in history(self.services, schedule_id, top)]


def _body(values: dict[str, Any]) -> Entity:
    """ScheduleDefinition attributes -> the REST body's PascalCase fields (None left out)."""
    body: Entity = {}
    for attr, value in values.items():
        if value is None:
            continue
        if attr == "recurrence":
            value = recurrence_entity(value.to_dict())
        body[ATTR_FIELDS[attr]] = value
    return body


class RemoteSchedules:
    """Over ``/api/schedules`` with the workspace's REST client (its auth and retries)."""

    def __init__(self, workspace: Workspace):
        from pipeline_core.client.api import client_for

        self.client = client_for(workspace)

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        from pipeline_core.client.errors import RemoteError

        try:
            return self.client.request(method, path, json=body, params=params).json()
        except RemoteError as exc:
            if exc.code == "InvalidSchedule":
                target = next((str(d.get("target")) for d in exc.details if isinstance(d, dict)), "schedule")
                raise ScheduleValidationError(target, exc.message.removeprefix("Schedule: ")) from None
            raise

    @staticmethod
    def _path(schedule_id: str, tail: str = "") -> str:
        return f"/api/schedules/{quote(schedule_id, safe='')}{tail}"

    def create(self, definition: ScheduleDefinition) -> Entity:
        return dict(self._call("POST", "/api/schedules", _body(dict(definition.__dict__))))

    def get(self, schedule_id: str) -> Entity:
        return dict(self._call("GET", self._path(schedule_id)))

    def list(self, active_only: bool, pipeline_id: str | None, pipeline_endpoint_id: str | None) -> builtins.list[Entity]:
        params = {"active_only": str(active_only).lower(), "pipeline_id": pipeline_id,
                  "pipeline_endpoint_id": pipeline_endpoint_id}
        answer = self._call("GET", "/api/schedules", params={k: v for k, v in params.items() if v is not None})
        return list(answer.get("Value") or [])

    def update(self, schedule_id: str, changes: dict[str, Any], status: str | None) -> Entity:
        body = _body(changes)
        if status is not None:
            body["Status"] = status
        return dict(self._call("PATCH", self._path(schedule_id), body))

    def set_status(self, schedule_id: str, enable: bool) -> Entity:
        return dict(self._call("POST", self._path(schedule_id, "/enable" if enable else "/disable")))

    def runs(self, schedule_id: str, top: int) -> builtins.list[tuple[str, str]]:
        answer = self._call("GET", self._path(schedule_id, "/runs"), params={"top": top})
        return [(str(e["Id"]), str(e["ExperimentName"])) for e in answer.get("Value") or []]

    def next(self, schedule_id: str, count: int) -> builtins.list[dict[str, str]]:
        return list(self._call("GET", self._path(schedule_id, "/next"), params={"count": count}).get("Value") or [])

    def history(self, schedule_id: str, top: int) -> builtins.list[Entity]:
        return list(self._call("GET", self._path(schedule_id, "/history"), params={"top": top}).get("Value") or [])
