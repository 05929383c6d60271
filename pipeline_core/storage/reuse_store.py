"""The ``reuse`` table: reuse key -> the step run whose outputs answer it, the inputs that made the key, and
what each output held when that run finished (blob names and ETags), so reuse can verify it."""

from __future__ import annotations

import json
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.run_store import utcnow

REUSE_TABLE = "reuse"


class ReuseStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    def lookup(self, key: str) -> dict[str, Any] | None:
        try:
            row = self.account.table(REUSE_TABLE).get_entity(key, "result")
        except ResourceNotFoundError:
            return None
        return {"run_id": row["run_id"], "step": row["step"], "outputs": json.loads(row["outputs"]),
                "parts": json.loads(row["parts"]), "created_time": row.get("created_time"),
                "manifests": json.loads(row.get("manifests") or "{}")}

    def record(self, key: str, run_id: str, step: str, outputs: dict[str, Any], parts: dict[str, Any],
               manifests: dict[str, Any] | None = None) -> None:
        """``manifests``: per output, what it held when the step finished (``engine.reuse.output_manifest``),
        so a later reuse can tell an output overwritten since from the original."""
        self.account.table(REUSE_TABLE).upsert_entity({
            "PartitionKey": key, "RowKey": "result", "run_id": run_id, "step": step,
            "outputs": json.dumps(outputs, sort_keys=True), "parts": json.dumps(parts, sort_keys=True),
            "manifests": json.dumps(manifests or {}, sort_keys=True), "created_time": utcnow(),
        })

    def forget(self, key: str) -> None:
        try:
            self.account.table(REUSE_TABLE).delete_entity(key, "result")
        except ResourceNotFoundError:
            pass

    # "Why did this step run again": the parts of the last key each (experiment, step) ran with.
    def lookup_latest(self, experiment: str, step: str) -> dict[str, Any] | None:
        try:
            row = self.account.table(REUSE_TABLE).get_entity("latest", f"{experiment}|{step}")
        except ResourceNotFoundError:
            return None
        parts: dict[str, Any] = json.loads(row["parts"])
        return parts

    def record_latest(self, experiment: str, step: str, parts: dict[str, Any]) -> None:
        self.account.table(REUSE_TABLE).upsert_entity({
            "PartitionKey": "latest", "RowKey": f"{experiment}|{step}", "parts": json.dumps(parts, sort_keys=True)})
