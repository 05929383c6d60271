"""The ``minibatches`` table: one row per mini-batch (PartitionKey ``{run_id}|{step}``, RowKey the index).

Why a table: it is the step's ledger. A redelivered ``prs_run_batch`` finds
its batch finished and returns the recorded result; ``prs_finish`` counts
failures from it rather than trusting what the orchestrator carried; and a
person can see which files a failed batch held and the first error with its
traceback. Rows are claimed with a per-delivery token and finished with an
ETag check, so of two deliveries racing on one batch the first to finish wins
and the other returns that result.
"""

from __future__ import annotations

import json
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
from pipeline_core.storage.run_store import utcnow

MINIBATCHES_TABLE = "minibatches"
SUCCEEDED, FAILED, RUNNING = "succeeded", "failed", "running"
TEXT_LIMIT = 30_000  # a Table string property holds 32K UTF-16 characters


def partition(run_id: str, step: str) -> str:
    return f"{run_id}|{step}"


def _row_key(index: int) -> str:
    return f"{index:08d}"


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 + 10:]


def result_of(row: dict[str, Any]) -> dict[str, Any]:
    """The activity result a finished row stands for."""
    return {"index": int(row["index"]), "status": row["status"], "items": int(row.get("items") or 0),
            "succeeded_items": int(row.get("succeeded_items") or 0), "failed_items": int(row.get("failed_items") or 0),
            "tries": int(row.get("tries") or 0),
            "error": (row.get("error") or None) if row["status"] == FAILED else None}


class BatchStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(MINIBATCHES_TABLE)

    def get(self, run_id: str, step: str, index: int) -> dict[str, Any] | None:
        try:
            row = self.table.get_entity(partition(run_id, step), _row_key(index))
        except ResourceNotFoundError:
            return None
        found = dict(row)
        found["etag"] = row.metadata.get("etag")
        return found

    def claim(self, run_id: str, step: str, index: int, token: str, inputs: list[str], host: str,
              existing: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """Mark the batch running for this delivery: (finished row if any, etag of our claim).

        ``existing`` is the row as the caller just read it (saves a read). Conditional writes make
        sure a claim never overwrites a row another delivery finished in the meantime.
        """
        for _ in range(5):
            if existing is not None and existing.get("status") in (SUCCEEDED, FAILED):
                return existing, None
            entity = {"PartitionKey": partition(run_id, step), "RowKey": _row_key(index), "index": index,
                      "status": RUNNING, "token": token, "host": host, "start_time": utcnow(),
                      "inputs": clip(json.dumps(inputs)),
                      "deliveries": int((existing or {}).get("deliveries") or 0) + 1}
            try:
                if existing is None:
                    meta = self.table.create_entity(entity)
                else:
                    meta = self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=existing["etag"],
                                                    match_condition=MatchConditions.IfNotModified)
                return None, meta.get("etag")
            except (ResourceExistsError, ResourceModifiedError):
                pass
            except HttpResponseError as exc:
                if exc.status_code != 412:
                    raise
            existing = self.get(run_id, step, index)
        raise RuntimeError(f"mini-batch {index} of step {step!r} kept changing; could not claim it")

    def finish(self, run_id: str, step: str, index: int, etag: str | None,
               fields: dict[str, Any]) -> dict[str, Any]:
        """Record the result unless another delivery already did; returns the row that stands."""
        entity = {"PartitionKey": partition(run_id, step), "RowKey": _row_key(index), "end_time": utcnow(), **fields}
        for _ in range(5):
            try:
                if etag:
                    self.table.update_entity(entity, mode=UpdateMode.MERGE, etag=etag,
                                             match_condition=MatchConditions.IfNotModified)
                else:
                    self.table.upsert_entity(entity, mode=UpdateMode.MERGE)
                return {"index": index, **fields}
            except (ResourceModifiedError, HttpResponseError) as exc:
                if isinstance(exc, HttpResponseError) and exc.status_code != 412:
                    raise
                current = self.get(run_id, step, index)
                if current is not None and current.get("status") in (SUCCEEDED, FAILED):
                    return current
                etag = current.get("etag") if current else None
        raise RuntimeError(f"mini-batch {index} of step {step!r} kept changing; result not recorded")

    def rows(self, run_id: str, step: str) -> list[dict[str, Any]]:
        found = self.table.query_entities("PartitionKey eq @pk", parameters={"pk": partition(run_id, step)})
        return sorted((dict(r) for r in found), key=lambda r: int(r["index"]))
