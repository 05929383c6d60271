"""The ``scheduleblobs`` table: which blob versions each data-change schedule has taken in.

Layout (PartitionKey / RowKey): ``{schedule id}`` / ``sha256(datastore, blob, etag)``.
A blob name may hold any character and be 1,024 long, so the key is a hash;
the row keeps ``datastore``, ``blob`` and ``etag`` in the clear.

Why an insert-if-absent row per (schedule, blob, ETag): the blob trigger
delivers at least once, two hosts may see the same upload, and the timer's
polling pass re-lists recent blobs; the first ``create_entity`` takes the
version in, everything after it is a duplicate. ``state`` follows the version:
``claimed`` (its run is being created and started), ``pending`` (held by the
debounce window), then ``fired``, ``debounced`` or ``failed``. A row left
``claimed`` by a host that died is taken over (ETag-guarded) after a grace
period, and the fire is finished under the same deterministic run id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.schedule_store import iso

BLOBS_TABLE = "scheduleblobs"
CLAIMED, PENDING = "claimed", "pending"
FIRED, DEBOUNCED, FAILED = "fired", "debounced", "failed"


def blob_key(datastore: str, blob: str, etag: str) -> str:
    return hashlib.sha256(f"{datastore}\0{blob}\0{etag}".encode()).hexdigest()


@dataclass(frozen=True)
class SeenBlob:
    schedule_id: str
    datastore: str
    blob: str
    etag: str
    state: str
    run_id: str = ""
    claim_time: str = ""
    row_etag: str | None = None

    @classmethod
    def from_entity(cls, entity: Any) -> SeenBlob:
        return cls(schedule_id=entity["PartitionKey"], datastore=entity.get("datastore", ""),
                   blob=entity.get("blob", ""), etag=entity.get("etag", ""), state=entity.get("state", ""),
                   run_id=entity.get("run_id", ""), claim_time=entity.get("claim_time", ""),
                   row_etag=(getattr(entity, "metadata", None) or {}).get("etag"))

    def stale(self, now: datetime, grace: timedelta) -> bool:
        """A claim nobody finished within ``grace``: its owner died."""
        return self.state == CLAIMED and bool(self.claim_time) and self.claim_time <= iso(now - grace)


class SeenBlobStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(BLOBS_TABLE)

    def _entity(self, schedule_id: str, datastore: str, blob: str, etag: str, state: str, run_id: str,
                now: datetime) -> dict[str, Any]:
        return {"PartitionKey": schedule_id, "RowKey": blob_key(datastore, blob, etag), "datastore": datastore,
                "blob": blob, "etag": etag, "state": state, "run_id": run_id, "claim_time": iso(now)}

    def get(self, schedule_id: str, datastore: str, blob: str, etag: str) -> SeenBlob | None:
        try:
            return SeenBlob.from_entity(self.table.get_entity(schedule_id, blob_key(datastore, blob, etag)))
        except ResourceNotFoundError:
            return None

    def take_in(self, schedule_id: str, datastore: str, blob: str, etag: str, state: str, run_id: str,
                now: datetime) -> SeenBlob | None:
        """None when this caller took the version in now; else the row of whoever did first."""
        try:
            self.table.create_entity(self._entity(schedule_id, datastore, blob, etag, state, run_id, now))
            return None
        except ResourceExistsError:
            existing = self.get(schedule_id, datastore, blob, etag)
            if existing is None:  # deleted meanwhile (purge): treat as taken, never fire twice
                return SeenBlob(schedule_id, datastore, blob, etag, CLAIMED)
            return existing

    def take_over(self, seen: SeenBlob, now: datetime) -> bool:
        """Claim a stale row for this caller (ETag-guarded: of two takers, one wins)."""
        entity = self._entity(seen.schedule_id, seen.datastore, seen.blob, seen.etag, CLAIMED, seen.run_id, now)
        try:
            self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=seen.row_etag,
                                     match_condition=MatchConditions.IfNotModified)
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except HttpResponseError as exc:
            if exc.status_code in (404, 412):
                return False
            raise

    def settle(self, schedule_id: str, datastore: str, blob: str, etag: str, state: str, run_id: str,
               now: datetime) -> None:
        """Record the version's final state (unconditional: only its claimant gets here)."""
        self.table.upsert_entity(self._entity(schedule_id, datastore, blob, etag, state, run_id, now),
                                 mode=UpdateMode.MERGE)

    def purge(self, older_than: datetime) -> int:
        """Forget versions settled before ``older_than`` (the poll never looks that far back)."""
        count = 0
        for row in self.table.query_entities("claim_time lt @before and state ne @claimed",
                                             parameters={"before": iso(older_than), "claimed": CLAIMED},
                                             select=["PartitionKey", "RowKey"]):
            try:
                self.table.delete_entity(row["PartitionKey"], row["RowKey"])
                count += 1
            except ResourceNotFoundError:
                pass
        return count
