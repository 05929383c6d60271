"""The ``schedules`` table: one row per pipeline schedule, with its next fire time and its fire claim.

Layout (PartitionKey / RowKey): ``schedule`` / ``{id}``. One partition, because
the timer tick reads every schedule that may need work in a single partition
query once a minute; a workspace holds hundreds of schedules, not millions.

Why the claim lives on the row: firing a recurrence is "advance ``next_fire_time``
and remember which run this fire owns" in one ETag-conditional replace. Two hosts
(or a repeated tick) read the same row; only the first replace succeeds, and the
loser sees 412 and does nothing. ``fire_state`` is ``claimed`` from that moment
until the run is known to be started (``started``); a tick that finds a claim
still ``claimed`` after a grace period finishes it (same deterministic run id).

Times are stored as ISO 8601 UTC strings of one fixed width
(``2024-03-31T01:00:00.000Z``), so string comparison in a Table filter is time order.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from pipeline_core.errors import NotFoundError
from pipeline_core.storage.account import StorageAccount

SCHEDULES_TABLE = "schedules"
PARTITION = "schedule"
ACTIVE, DISABLED = "Active", "Disabled"
STATUSES = (ACTIVE, DISABLED)
RECURRENCE, DATA_CHANGE = "Recurrence", "DataChange"
CLAIMED, STARTED = "claimed", "started"

_JSON = ("recurrence", "pipeline_parameters", "claim", "pending")
_OPTIONAL_BOOL = ("continue_on_step_failure",)


def iso(moment: datetime) -> str:
    """Fixed-width ISO 8601 UTC with milliseconds and ``Z`` (sorts as time; naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """The aware UTC datetime of an ``iso()`` string; None for empty."""
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ScheduleRecord:
    """A stored schedule. ``kind`` is ``Recurrence`` (time) or ``DataChange`` (blobs on a datastore)."""

    id: str
    name: str
    experiment_name: str
    kind: str
    pipeline_id: str = ""
    pipeline_endpoint_id: str = ""
    description: str = ""
    status: str = ACTIVE
    # -- recurrence --------------------------------------------------------------------
    recurrence: dict[str, Any] | None = None
    #: The series anchor for a recurrence without start_time (AML counts from creation).
    anchor_time: str = ""
    next_fire_time: str = ""
    # -- data change -------------------------------------------------------------------
    datastore_name: str = ""
    path_on_datastore: str = ""
    recursive: bool = True
    polling_interval: int = 5
    data_path_parameter_name: str = ""
    debounce_seconds: float = 0.0
    #: Blobs last modified before this instant never trigger: when the schedule was created or enabled.
    watch_since: str = ""
    #: The polling pass lists blobs modified since this instant (its last listing, less an overlap).
    poll_since: str = ""
    last_poll_time: str = ""
    #: The change held back by the debounce window: {datastore, blob, etag, count, since, deadline}.
    pending: dict[str, Any] | None = None
    pending_deadline: str = ""
    # -- what a run gets -----------------------------------------------------------------
    pipeline_parameters: dict[str, Any] = field(default_factory=dict)
    continue_on_step_failure: bool | None = None
    # -- the last fire and its claim ---------------------------------------------------------
    last_fire_time: str = ""
    last_run_id: str = ""
    fire_state: str = ""
    claim_time: str = ""
    #: What the claimed fire needs to be finished by someone else: {run_id, trigger, datapath, ...}.
    claim: dict[str, Any] | None = None
    created_time: str = ""
    updated_time: str = ""
    created_by: str = ""
    etag: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_recurrence(self) -> bool:
        return self.kind == RECURRENCE

    @property
    def is_data_change(self) -> bool:
        return self.kind == DATA_CHANGE

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": PARTITION, "RowKey": self.id}
        for item in fields(self):
            if item.name in ("id", "etag"):
                continue
            value = getattr(self, item.name)
            if item.name in _JSON:
                entity[item.name] = json.dumps(value, sort_keys=True) if value is not None else ""
            elif item.name in _OPTIONAL_BOOL:
                entity[item.name] = "" if value is None else ("true" if value else "false")
            else:
                entity[item.name] = value
        return entity

    @classmethod
    def from_entity(cls, entity: Any) -> ScheduleRecord:
        values: dict[str, Any] = {"id": entity["RowKey"],
                                  "etag": (getattr(entity, "metadata", None) or {}).get("etag")}
        for item in fields(cls):
            if item.name in ("id", "etag") or item.name not in entity:
                continue
            raw = entity[item.name]
            if item.name in _JSON:
                values[item.name] = json.loads(raw) if raw else None
            elif item.name in _OPTIONAL_BOOL:
                values[item.name] = None if raw in ("", None) else str(raw).lower() == "true"
            else:
                values[item.name] = raw
        if values.get("pipeline_parameters") is None:
            values["pipeline_parameters"] = {}
        values["polling_interval"] = int(values.get("polling_interval") or 5)
        values["debounce_seconds"] = float(values.get("debounce_seconds") or 0.0)
        return cls(**values)


class ScheduleStore:
    """Create, read, list and ETag-guarded replace of schedule rows."""

    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(SCHEDULES_TABLE)

    def create(self, record: ScheduleRecord) -> ScheduleRecord:
        meta = self.table.create_entity(record.to_entity())
        return replace(record, etag=meta.get("etag"))

    def get(self, schedule_id: str) -> ScheduleRecord:
        try:
            return ScheduleRecord.from_entity(self.table.get_entity(PARTITION, schedule_id))
        except ResourceNotFoundError:
            raise NotFoundError(f"schedule {schedule_id!r} was not found; Schedule.list(ws) (or "
                                "`amlite schedules list`) lists the schedule ids") from None
        except HttpResponseError as exc:
            if exc.status_code == 400:  # not a possible key: nothing stored under it
                raise NotFoundError(f"schedule {schedule_id!r} was not found") from None
            raise

    def swap(self, current: ScheduleRecord, changed: ScheduleRecord) -> ScheduleRecord | None:
        """Replace the row with ``changed`` if it still is ``current`` (same ETag); None when someone won the race."""
        try:
            meta = self.table.update_entity(changed.to_entity(), mode=UpdateMode.REPLACE, etag=current.etag,
                                            match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            return None
        except HttpResponseError as exc:
            if exc.status_code in (404, 412):
                return None
            raise
        return replace(changed, etag=meta.get("etag"))

    def query(self, where: str = "", parameters: dict[str, Any] | None = None) -> builtins.list[ScheduleRecord]:
        # The SDK substitutes @names split on spaces: keep every parameter clear of parentheses.
        query = "PartitionKey eq @pk" + (f" and ( {where} )" if where else "")
        rows = self.table.query_entities(query, parameters={"pk": PARTITION, **(parameters or {})})
        return [ScheduleRecord.from_entity(row) for row in rows]

    def list(self, active_only: bool = True, pipeline_id: str | None = None,
             pipeline_endpoint_id: str | None = None) -> builtins.list[ScheduleRecord]:
        """Newest first."""
        clauses, params = [], {}
        if active_only:
            clauses.append("status eq @active")
            params["active"] = ACTIVE
        if pipeline_id:
            clauses.append("pipeline_id eq @pipeline")
            params["pipeline"] = pipeline_id
        if pipeline_endpoint_id:
            clauses.append("pipeline_endpoint_id eq @endpoint")
            params["endpoint"] = pipeline_endpoint_id
        found = self.query(" and ".join(clauses), params)
        return sorted(found, key=lambda r: (r.created_time, r.id), reverse=True)

    def data_change(self) -> builtins.list[ScheduleRecord]:
        """Every data-change schedule, Active or not (a change to a disabled one is recorded as skipped)."""
        return self.query("kind eq @kind", {"kind": DATA_CHANGE})

    def tick_candidates(self, now: datetime) -> builtins.list[ScheduleRecord]:
        """Rows the timer tick may have to act on: due recurrences, open claims, ripe debounces, active watchers."""
        return self.query(
            "( status eq @active and kind eq @recurrence and next_fire_time ne '' and next_fire_time le @now )"
            " or fire_state eq @claimed"
            " or ( pending_deadline ne '' and pending_deadline le @now )"
            " or ( status eq @active and kind eq @data_change )",
            {"active": ACTIVE, "recurrence": RECURRENCE, "data_change": DATA_CHANGE, "claimed": CLAIMED,
             "now": iso(now)})
