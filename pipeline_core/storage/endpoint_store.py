"""The ``pipelineendpoints`` table: named, versioned pointers to published pipelines.

Layout (PartitionKey / RowKey):

* ``{name}`` / ``endpoint``: the header (id, description, status Active|Disabled,
  default version, version count).
* ``{name}`` / ``version:{n:010d}``: one row per version (``"0"``, ``"1"``, ... as in
  AML), holding the published pipeline id. Zero-padded so rows sort by number.
* ``""`` / ``{id}``: index row (``name``), so a submit by endpoint id is two point reads.

Why header and versions share a partition: adding a version bumps the header's
count and inserts the row in one entity-group transaction guarded by the
header's ETag, so two concurrent ``add`` calls never hand out the same version.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from pipeline_core.errors import ConcurrencyError, NotFoundError
from pipeline_core.errors import NameTakenError as NameTakenError
from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.pipeline_store import ACTIVE, INDEX_PARTITION, STATUSES
from pipeline_core.storage.run_store import utcnow

ENDPOINTS_TABLE = "pipelineendpoints"
HEADER_ROW = "endpoint"
VERSION_PREFIX = "version:"



def version_key(version: int) -> str:
    return f"{VERSION_PREFIX}{version:010d}"


@dataclass(frozen=True)
class EndpointVersion:
    version: str
    pipeline_id: str
    created_time: str = ""


@dataclass(frozen=True)
class EndpointRecord:
    id: str
    name: str
    description: str
    status: str
    default_version: str
    version_count: int
    created_time: str = ""
    updated_time: str = ""
    etag: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @classmethod
    def from_entity(cls, entity: Any) -> EndpointRecord:
        return cls(id=entity["id"], name=entity["PartitionKey"], description=entity.get("description") or "",
                   status=entity.get("status") or ACTIVE, default_version=str(entity.get("default_version", "0")),
                   version_count=int(entity.get("version_count") or 0),
                   created_time=entity.get("created_time") or "", updated_time=entity.get("updated_time") or "",
                   etag=(getattr(entity, "metadata", None) or {}).get("etag"))


@dataclass(frozen=True)
class EndpointView:
    """An endpoint with its versions, read at one moment: what ``PipelineEndpoint`` shows, from storage or REST."""

    record: EndpointRecord
    versions: builtins.list[EndpointVersion]


class EndpointStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(ENDPOINTS_TABLE)

    # -- create / read ----------------------------------------------------------------
    def create(self, name: str, description: str, pipeline_id: str) -> EndpointRecord:
        """Header plus version ``"0"`` in one transaction; the index row first (removed again on a name clash)."""
        endpoint_id = str(uuid.uuid4())
        now = utcnow()
        self.table.create_entity({"PartitionKey": INDEX_PARTITION, "RowKey": endpoint_id, "name": name})
        header = {"PartitionKey": name, "RowKey": HEADER_ROW, "id": endpoint_id, "description": description,
                  "status": ACTIVE, "default_version": "0", "version_count": 1, "created_time": now,
                  "updated_time": now}
        first = {"PartitionKey": name, "RowKey": version_key(0), "version": "0", "pipeline_id": pipeline_id,
                 "created_time": now}
        try:
            self.table.submit_transaction([("create", header), ("create", first)])
        except TableTransactionError as exc:
            self.table.delete_entity(INDEX_PARTITION, endpoint_id)
            if exc.status_code == 409:
                raise NameTakenError(f"a pipeline endpoint named {name!r} already exists; add a version to it "
                                     "(PipelineEndpoint.get(ws, name=...).add_default(pipeline)) or pick "
                                     "another name") from None
            raise
        return self.get_by_name(name)

    def get_by_name(self, name: str) -> EndpointRecord:
        try:
            return EndpointRecord.from_entity(self.table.get_entity(name, HEADER_ROW))
        except ResourceNotFoundError:
            raise NotFoundError(f"pipeline endpoint named {name!r} was not found; PipelineEndpoint.list(ws) "
                                "lists them") from None

    def get(self, endpoint_id: str) -> EndpointRecord:
        missing = NotFoundError(f"pipeline endpoint {endpoint_id!r} was not found; PipelineEndpoint.list(ws) "
                                "lists them")
        if not endpoint_id:
            raise missing
        try:
            name = self.table.get_entity(INDEX_PARTITION, endpoint_id)["name"]
            record = EndpointRecord.from_entity(self.table.get_entity(name, HEADER_ROW))
        except ResourceNotFoundError:
            raise missing from None
        if record.id != endpoint_id:  # index row left over from a failed create under a reused name
            raise missing
        return record

    def resolve(self, id_or_name: str) -> EndpointRecord:
        """By id first (what ``PipelineEndpoint.endpoint`` carries), else by name."""
        try:
            return self.get(id_or_name)
        except NotFoundError:
            pass
        try:
            return self.get_by_name(id_or_name)
        except NotFoundError:
            raise NotFoundError(f"pipeline endpoint {id_or_name!r} was not found by id or name; "
                                "PipelineEndpoint.list(ws) lists them") from None

    def list(self, active_only: bool = True) -> list[EndpointRecord]:
        query, params = "PartitionKey gt @index and RowKey eq @header", {"index": INDEX_PARTITION,
                                                                         "header": HEADER_ROW}
        if active_only:
            query += " and status eq @active"
            params["active"] = ACTIVE
        found = [EndpointRecord.from_entity(e) for e in self.table.query_entities(query, parameters=params)]
        return sorted(found, key=lambda r: r.name)

    def versions(self, name: str) -> builtins.list[EndpointVersion]:
        rows = self.table.query_entities("PartitionKey eq @name and RowKey gt @lo and RowKey lt @hi",
                                         parameters={"name": name, "lo": VERSION_PREFIX, "hi": VERSION_PREFIX + "~"})
        found = [EndpointVersion(str(r["version"]), r["pipeline_id"], r.get("created_time") or "") for r in rows]
        return sorted(found, key=lambda v: int(v.version))

    def version(self, name: str, version: str) -> EndpointVersion:
        known = self.versions(name)
        for entry in known:
            if entry.version == str(version):
                return entry
        listed = ", ".join(v.version for v in known) or "none"
        raise NotFoundError(f"pipeline endpoint {name!r} has no version {version!r}; its versions: {listed}")

    # -- change -----------------------------------------------------------------------
    def add_version(self, name: str, pipeline_id: str, make_default: bool) -> EndpointVersion:
        """A new version for ``pipeline_id``; a pipeline already on the endpoint keeps its version."""
        for existing in self.versions(name):
            if existing.pipeline_id == pipeline_id:
                if make_default:
                    self.set_default(name, existing.version)
                return existing

        def attempt(header: EndpointRecord) -> tuple[builtins.list[Any], EndpointVersion]:
            number = header.version_count
            entry = EndpointVersion(str(number), pipeline_id, utcnow())
            changes: dict[str, Any] = {"version_count": number + 1, "updated_time": entry.created_time}
            if make_default:
                changes["default_version"] = entry.version
            row = {"PartitionKey": name, "RowKey": version_key(number), "version": entry.version,
                   "pipeline_id": pipeline_id, "created_time": entry.created_time}
            return [self._guarded_update(header, changes), ("create", row)], entry

        return self._retry(name, attempt)

    def set_default(self, name: str, version: str) -> EndpointRecord:
        self.version(name, version)

        def attempt(header: EndpointRecord) -> tuple[builtins.list[Any], EndpointRecord]:
            return ([self._guarded_update(header, {"default_version": str(version), "updated_time": utcnow()})],
                    header)

        self._retry(name, attempt)
        return self.get_by_name(name)

    def set_status(self, name: str, status: str) -> EndpointRecord:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")

        def attempt(header: EndpointRecord) -> tuple[builtins.list[Any], EndpointRecord]:
            return [self._guarded_update(header, {"status": status, "updated_time": utcnow()})], header

        self._retry(name, attempt)
        return self.get_by_name(name)

    def rename(self, endpoint_id: str, new_name: str) -> EndpointRecord:
        """Move the endpoint (header and versions, same id) to partition ``new_name`` (AML's ``set_name``).

        Order, so every step can be redone and no reader by id ever misses it: copy to the new partition
        (one transaction: a taken name fails it whole), point the id's index row at it, delete the old
        partition. A rename cut short is finished by calling it again: the new partition holding this id
        counts as done.
        """
        old = self.get(endpoint_id)
        if old.name == new_name:
            return old
        rows = [dict(e) for e in self.table.query_entities("PartitionKey eq @name", parameters={"name": old.name})]
        now = utcnow()
        copies = [("create",
                   {**{k: v for k, v in row.items() if k not in ("PartitionKey",)}, "PartitionKey": new_name,
                    **({"updated_time": now} if row["RowKey"] == HEADER_ROW else {})}) for row in rows]
        try:
            for start in range(0, len(copies), 99):
                self.table.submit_transaction(copies[start:start + 99])
        except (TableTransactionError, HttpResponseError) as exc:
            if exc.status_code != 409:
                raise
            try:
                taken = EndpointRecord.from_entity(self.table.get_entity(new_name, HEADER_ROW))
            except ResourceNotFoundError:
                raise ConcurrencyError(f"pipeline endpoint {old.name!r} is being renamed; try again") from None
            if taken.id != endpoint_id:
                raise NameTakenError(f"a pipeline endpoint named {new_name!r} already exists; pick another "
                                     "name") from None
        self.table.update_entity({"PartitionKey": INDEX_PARTITION, "RowKey": endpoint_id, "name": new_name},
                                 mode=UpdateMode.MERGE)
        for start in range(0, len(rows), 99):
            self.table.submit_transaction([("delete", {"PartitionKey": old.name, "RowKey": r["RowKey"]})
                                           for r in rows[start:start + 99]])
        return self.get_by_name(new_name)

    def _guarded_update(self, header: EndpointRecord,
                        changes: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        entity = {"PartitionKey": header.name, "RowKey": HEADER_ROW, **changes}
        return ("update", entity, {"mode": UpdateMode.MERGE, "etag": header.etag,
                                   "match_condition": MatchConditions.IfNotModified})

    def _retry(self, name: str, attempt: Callable[[EndpointRecord], tuple[builtins.list[Any], Any]],
               attempts: int = 8) -> Any:
        for _ in range(attempts):
            header = self.get_by_name(name)
            operations, result = attempt(header)
            try:
                self.table.submit_transaction(operations)
            except (TableTransactionError, HttpResponseError) as exc:
                if exc.status_code in (409, 412):  # lost the race for the header or the version row
                    continue
                raise
            return result
        raise ConcurrencyError(f"pipeline endpoint {name!r} kept changing; try again")
