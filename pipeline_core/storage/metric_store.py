"""Metrics logged by steps (``Run.log*``): the ``metrics`` table.

PartitionKey is the pipeline run id, so a whole run's metrics (every step's and
the run's own, logged through ``run.parent``) read in one partition query.
RowKey is ``{step}|{name}|{sequence}`` (each part percent-encoded; the run's own
metrics have an empty step), so one step's rows are a key range and each
name's values come back in logging order. The sequence is the writer's clock
plus a writer id and counter, so the worker processes of a ParallelRunStep
never overwrite each other, and a batch resent after a dropped connection
writes the same rows again instead of new ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.data.tables import TableClient

from pipeline_core.errors import AmliteError
from pipeline_core.runcontext.names import check_metric_name, key_part
from pipeline_core.runcontext.values import KINDS, encode, merge
from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.run_store import utcnow

METRICS_TABLE = "metrics"
_SEQUENCE = re.compile(r"^[0-9a-z-]{1,64}$")
_CHUNK = 30_000  # characters per string property (Table storage: 64 KiB, UTF-16)
_BATCH = 100  # Table storage's limit per transaction
_writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="amlite-metrics")


def step_prefix(step: str) -> str:
    return key_part(step) + "|"


def _entity(run_id: str, step: str, record: dict[str, Any]) -> dict[str, Any]:
    name = check_metric_name(record.get("name"))
    kind = record.get("kind")
    sequence = str(record.get("seq") or "")
    if kind not in KINDS:
        raise AmliteError(f"metric {name!r}: unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if not _SEQUENCE.match(sequence):
        raise AmliteError(f"metric {name!r}: sequence {sequence[:70]!r} is invalid (1-64 of [0-9a-z-])")
    text = encode(record.get("value"), name)
    entity: dict[str, Any] = {"PartitionKey": run_id, "RowKey": f"{step_prefix(step)}{key_part(name)}|{sequence}",
                              "step": step, "name": name, "kind": kind, "logged_time": utcnow(),
                              "description": str(record.get("description") or "")[:1000],
                              "parts": 0}
    for index in range(0, max(1, len(text)), _CHUNK):
        entity[f"v{index // _CHUNK}"] = text[index:index + _CHUNK]
        entity["parts"] = index // _CHUNK + 1
    return entity


def _value(entity: dict[str, Any]) -> Any:
    text = "".join(str(entity.get(f"v{i}", "")) for i in range(int(entity.get("parts") or 0)))
    return json.loads(text) if text else None


class MetricStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(METRICS_TABLE)

    def add(self, run_id: str, step: str, records: Iterable[dict[str, Any]]) -> int:
        """Write ``records`` (``name``, ``kind``, ``value``, ``seq``) of ``step`` ("" = the run itself)."""
        entities = [_entity(run_id, step, r) for r in records]
        batches = [entities[start:start + _BATCH] for start in range(0, len(entities), _BATCH)]
        table = self.table

        def write(batch: list[dict[str, Any]]) -> None:
            table.submit_transaction([("upsert", e) for e in batch])

        if len(batches) == 1:
            write(batches[0])
        else:  # distinct rows of one partition: transactions may run side by side
            list(_writers.map(write, batches))
        return len(entities)

    def rows(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """Rows of the run (``step`` None), of one step, or of the run itself (``step`` "")."""
        if step is None:
            query, params = "PartitionKey eq @pk", {"pk": run_id}
        else:
            prefix = step_prefix(step)
            query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
            params = {"pk": run_id, "lo": prefix, "hi": prefix[:-1] + "}"}
        return [dict(e) for e in self.table.query_entities(query, parameters=params)]

    def metrics(self, run_id: str, step: str | None = None) -> dict[str, dict[str, Any]]:
        """``{step: {name: value}}`` in AML's shapes; "" holds the run's own metrics."""
        by_step: dict[str, list[tuple[str, str, Any]]] = {}
        for entity in self.rows(run_id, step):
            by_step.setdefault(str(entity.get("step") or ""), []).append(
                (str(entity["name"]), str(entity["kind"]), _value(entity)))
        return {name: merge(records) for name, records in by_step.items()}
