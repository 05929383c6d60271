"""The ``datasets`` table: registered dataset versions (PartitionKey name, RowKey zero-padded version).

Why a table keyed this way: every version of one name reads in one partition
query, "latest" is the highest RowKey, and two concurrent registrations of a
new version collide on the RowKey instead of both succeeding.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.run_store import utcnow

DATASETS_TABLE = "datasets"


def _row_key(version: int) -> str:
    return f"{version:010d}"


def _decode(row: Any) -> dict[str, Any]:
    return {"name": row["PartitionKey"], "version": int(row["version"]), "id": row["id"],
            "dataset_type": row["dataset_type"], "definition": json.loads(row["definition"]),
            "description": row.get("description") or None, "tags": json.loads(row.get("tags") or "{}"),
            "created_time": row.get("created_time")}


class DatasetStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def _table(self) -> Any:
        return self.account.table(DATASETS_TABLE)

    def versions(self, name: str) -> list[dict[str, Any]]:
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": name})
        return sorted((_decode(r) for r in rows), key=lambda r: r["version"])

    def latest(self, name: str) -> dict[str, Any] | None:
        found = self.versions(name)
        return found[-1] if found else None

    def get(self, name: str, version: int) -> dict[str, Any] | None:
        try:
            return _decode(self._table.get_entity(name, _row_key(version)))
        except ResourceNotFoundError:
            return None

    def by_id(self, dataset_id: str) -> dict[str, Any] | None:
        """The version with this id (AML's ``SavedDataSetReference``/``DataSetReference.Id``): one filtered query."""
        rows = list(self._table.query_entities("id eq @id", parameters={"id": dataset_id}))
        return _decode(rows[0]) if rows else None

    def names(self) -> list[str]:
        return sorted({r["PartitionKey"] for r in self._table.list_entities(select=["PartitionKey"])})

    def create_version(self, name: str, version: int, dataset_type: str, definition: dict[str, Any],
                       description: str | None, tags: dict[str, str] | None) -> dict[str, Any] | None:
        """Insert one version; None when that version number was taken meanwhile (the caller re-reads)."""
        entity = {"PartitionKey": name, "RowKey": _row_key(version), "version": version, "id": str(uuid.uuid4()),
                  "dataset_type": dataset_type, "definition": json.dumps(definition, sort_keys=True),
                  "description": description or "", "tags": json.dumps(tags or {}, sort_keys=True),
                  "created_time": utcnow()}
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            return None
        return _decode(entity)
