"""The ``idempotency`` table: (scope, Idempotency-Key) -> run id, valid for 24 hours.

Why insert-if-absent *before* the run exists: two concurrent retries of one
submit must create one run. The first ``create_entity`` wins the key with a run
id it is about to create; every other request reads that row and answers with
the same run id. A row older than the validity window is taken over with an
ETag-guarded replace, so two late retries cannot both take it over.

The claim is a short lease until the run exists: the row names its ``owner``
(the claiming process, as a run row's ``host_id``) and ``lease_expires`` (60 s).
A claim whose run never appeared is taken over (ETag-guarded) by the next retry
when its owner is a process of this machine that is gone, or, for an owner this
machine cannot judge, when the lease is past, so a host killed between claiming
and creating does not make the key answer "busy" for 24 hours.

Layout: PartitionKey = sha256(scope, key) (keys may hold any characters, Table
keys may not), RowKey ``key``; fields ``scope``, ``key``, ``run_id``,
``fingerprint`` (of the request body), ``created_time``, ``expires_time``,
``owner``, ``lease_expires``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from pipeline_core.errors import ConcurrencyError
from pipeline_core.storage.account import StorageAccount

IDEMPOTENCY_TABLE = "idempotency"
KEY_ROW = "key"
VALIDITY = timedelta(hours=24)
LEASE = timedelta(seconds=60)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class IdempotencyEntry:
    scope: str
    key: str
    run_id: str
    fingerprint: str
    created_time: str
    expires_time: str
    etag: str | None = None
    owner: str = ""
    lease_expires: str = ""

    def expired(self, now: datetime | None = None) -> bool:
        try:
            return _parse(self.expires_time) <= (now or datetime.now(timezone.utc))
        except ValueError:
            return True

    def lease_expired(self, now: datetime | None = None) -> bool:
        """The claimer's time to create its run is up (rows written before leases existed: at once)."""
        try:
            return _parse(self.lease_expires) <= (now or datetime.now(timezone.utc))
        except ValueError:
            return True

    @classmethod
    def from_entity(cls, entity: Any) -> IdempotencyEntry:
        return cls(scope=entity.get("scope", ""), key=entity.get("key", ""), run_id=entity.get("run_id", ""),
                   fingerprint=entity.get("fingerprint", ""), created_time=entity.get("created_time", ""),
                   expires_time=entity.get("expires_time", ""),
                   etag=(getattr(entity, "metadata", None) or {}).get("etag"),
                   owner=entity.get("owner", ""), lease_expires=entity.get("lease_expires", ""))


def partition_for(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, account: StorageAccount, validity: timedelta = VALIDITY, lease: timedelta = LEASE):
        self.account = account
        self.validity = validity
        self.lease = lease

    @property
    def table(self) -> TableClient:
        return self.account.table(IDEMPOTENCY_TABLE)

    def _row(self, scope: str, key: str, run_id: str, fingerprint: str, owner: str = "") -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        return {"PartitionKey": partition_for(scope, key), "RowKey": KEY_ROW, "scope": scope, "key": key,
                "run_id": run_id, "fingerprint": fingerprint, "created_time": _iso(now),
                "expires_time": _iso(now + self.validity), "owner": owner, "lease_expires": _iso(now + self.lease)}

    def get(self, scope: str, key: str) -> IdempotencyEntry | None:
        try:
            return IdempotencyEntry.from_entity(self.table.get_entity(partition_for(scope, key), KEY_ROW))
        except ResourceNotFoundError:
            return None

    def claim(self, scope: str, key: str, run_id: str, fingerprint: str, attempts: int = 8,
              owner: str = "") -> IdempotencyEntry | None:
        """None when this caller now owns the key for ``run_id``; else the live entry of whoever owns it."""
        row = self._row(scope, key, run_id, fingerprint, owner)
        for _ in range(attempts):
            try:
                self.table.create_entity(row)
                return None
            except ResourceExistsError:
                pass
            existing = self.get(scope, key)
            if existing is None:  # released between our insert and our read: try to insert again
                continue
            if not existing.expired():
                return existing
            try:
                self.table.update_entity(row, mode=UpdateMode.REPLACE, etag=existing.etag,
                                         match_condition=MatchConditions.IfNotModified)
                return None
            except ResourceModifiedError:
                continue
            except HttpResponseError as exc:
                if exc.status_code in (404, 412):
                    continue
                raise
        raise ConcurrencyError(f"Idempotency-Key {key!r} kept changing hands; retry the request")

    def take_over(self, entry: IdempotencyEntry, run_id: str, fingerprint: str, owner: str = "") -> bool:
        """Replace an abandoned claim (its run never appeared) by ours, if nobody changed it since it was read."""
        row = self._row(entry.scope, entry.key, run_id, fingerprint, owner)
        try:
            self.table.update_entity(row, mode=UpdateMode.REPLACE, etag=entry.etag,
                                     match_condition=MatchConditions.IfNotModified)
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except HttpResponseError as exc:
            if exc.status_code in (404, 412):
                return False
            raise

    def release(self, scope: str, key: str, run_id: str) -> None:
        """Give the key back after a failed create, but only if it still names our run."""
        existing = self.get(scope, key)
        if existing is None or existing.run_id != run_id:
            return
        try:
            self.table.delete_entity(partition_for(scope, key), KEY_ROW, etag=existing.etag,
                                     match_condition=MatchConditions.IfNotModified)
        except (ResourceNotFoundError, ResourceModifiedError):
            pass
        except HttpResponseError as exc:
            if exc.status_code != 412:
                raise

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete rows past their validity (for a timer to call); returns how many went."""
        moment = _iso(now or datetime.now(timezone.utc))
        count = 0
        for entity in self.table.query_entities("expires_time lt @now", parameters={"now": moment},
                                                select=["PartitionKey", "RowKey"]):
            try:
                self.table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                count += 1
            except ResourceNotFoundError:
                pass
        return count
