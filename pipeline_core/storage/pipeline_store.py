"""The ``pipelines`` table: published pipelines, one row per (name, id), plus an id index.

Layout (PartitionKey / RowKey):

* ``{name}`` / ``{id}``: the record (status Active|Disabled, version, description,
  graph id of the stored spec blob, continue_on_step_failure, total_run_steps,
  declared parameters, created/updated time). Partitioned by name because AML
  lists and groups published pipelines by name (versions of one pipeline).
* ``""`` / ``{id}``: the index row, ``name`` only. A submit arrives with just an id, so
  ``get`` is two point reads instead of a table scan. ``""`` can never be a
  pipeline name (names are validated non-empty).

The index row is written first: a record is never reachable by listing yet
missing by id. A crash between the two writes leaves an index row pointing at
nothing, which ``get`` answers as not found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from pipeline_core.errors import ConcurrencyError, NotFoundError
from pipeline_core.spec_types import ParameterEntry
from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.run_store import utcnow

PIPELINES_TABLE = "pipelines"
INDEX_PARTITION = ""
#: (account, pipeline id) -> the pipeline's name, its partition. An id names one pipeline for good (a
#: published pipeline is never renamed), so a host that has resolved it once reads the record straight away:
#: every submit to a published endpoint saved a round trip (``docs/performance.md``).
_NAMES: dict[tuple[str, str], str] = {}
_NAMES_KEPT = 4096
ACTIVE, DISABLED = "Active", "Disabled"
STATUSES = (ACTIVE, DISABLED)


@dataclass(frozen=True)
class PipelineRecord:
    """One published pipeline; the spec itself stays in the snapshots container (``specs/{graph_id}.json``)."""

    id: str
    name: str
    graph_id: str
    description: str = ""
    version: str = ""
    status: str = ACTIVE
    continue_on_step_failure: bool = False
    total_run_steps: int = 0
    parameters: dict[str, ParameterEntry] = field(default_factory=dict)
    created_time: str = ""
    updated_time: str = ""
    etag: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def to_entity(self) -> dict[str, Any]:
        return {"PartitionKey": self.name, "RowKey": self.id, "name": self.name, "graph_id": self.graph_id,
                "description": self.description, "version": self.version, "status": self.status,
                "continue_on_step_failure": self.continue_on_step_failure,
                "total_run_steps": self.total_run_steps,
                "parameters": json.dumps(self.parameters, sort_keys=True),
                "created_time": self.created_time, "updated_time": self.updated_time}

    @classmethod
    def from_entity(cls, entity: Any) -> PipelineRecord:
        try:
            parameters = json.loads(entity.get("parameters") or "{}")
        except json.JSONDecodeError:
            parameters = {}
        return cls(id=entity["RowKey"], name=entity["PartitionKey"], graph_id=entity.get("graph_id", ""),
                   description=entity.get("description") or "", version=entity.get("version") or "",
                   status=entity.get("status") or ACTIVE,
                   continue_on_step_failure=bool(entity.get("continue_on_step_failure")),
                   total_run_steps=int(entity.get("total_run_steps") or 0), parameters=parameters,
                   created_time=entity.get("created_time") or "", updated_time=entity.get("updated_time") or "",
                   etag=(getattr(entity, "metadata", None) or {}).get("etag"))


class PipelineStore:
    """Create, read, list and enable/disable published pipelines."""

    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(PIPELINES_TABLE)

    def create(self, record: PipelineRecord) -> PipelineRecord:
        now = utcnow()
        record = replace(record, created_time=record.created_time or now, updated_time=now)
        self.table.create_entity({"PartitionKey": INDEX_PARTITION, "RowKey": record.id, "name": record.name})
        self.table.create_entity(record.to_entity())
        return record

    def get(self, pipeline_id: str) -> PipelineRecord:
        missing = NotFoundError(f"published pipeline {pipeline_id!r} was not found; "
                                "PublishedPipeline.list(ws) (or GET /api/pipelines) lists the published ids")
        if not pipeline_id:
            raise missing
        key = (self.account.storage, pipeline_id)
        name = _NAMES.get(key)
        if name is not None:  # the record itself is always read: its status may have changed
            try:
                return PipelineRecord.from_entity(self.table.get_entity(name, pipeline_id))
            except ResourceNotFoundError:
                _NAMES.pop(key, None)
        try:
            name = self.table.get_entity(INDEX_PARTITION, pipeline_id)["name"]
            record = PipelineRecord.from_entity(self.table.get_entity(name, pipeline_id))
        except ResourceNotFoundError:
            raise missing from None
        if len(_NAMES) >= _NAMES_KEPT:
            _NAMES.clear()
        _NAMES[key] = name
        return record

    def list(self, active_only: bool = True, name: str | None = None) -> list[PipelineRecord]:
        """Newest first. ``name`` narrows to one partition (the versions of one pipeline)."""
        if name:
            query, params = "PartitionKey eq @name", {"name": name}
        else:
            query, params = "PartitionKey gt @index", {"index": INDEX_PARTITION}
        if active_only:
            query += " and status eq @active"
            params["active"] = ACTIVE
        found = [PipelineRecord.from_entity(e) for e in self.table.query_entities(query, parameters=params)]
        found.sort(key=lambda r: (r.created_time, r.id), reverse=True)
        return found

    def set_status(self, pipeline_id: str, status: str, attempts: int = 5) -> PipelineRecord:
        """ETag-guarded so a concurrent enable and disable end in one of the two states, never a mix."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        for _ in range(attempts):
            record = self.get(pipeline_id)
            if record.status == status:
                return record
            changed = replace(record, status=status, updated_time=utcnow())
            try:
                meta = self.table.update_entity(changed.to_entity(), mode=UpdateMode.MERGE, etag=record.etag,
                                                match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue
            except HttpResponseError as exc:
                if exc.status_code == 412:
                    continue
                raise
            return replace(changed, etag=meta.get("etag"))
        raise ConcurrencyError(f"published pipeline {pipeline_id!r} kept changing; try again")
