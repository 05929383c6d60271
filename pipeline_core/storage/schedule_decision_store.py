"""The ``scheduledecisions`` table: every trigger decision a schedule made, newest first.

Layout (PartitionKey / RowKey): ``{schedule id}`` / ``{inverted ms}-{random}``, so
one schedule's history reads in one partition query, newest first, and two
decisions in the same millisecond never collide.

A decision is ``fired`` (with the run id) or ``skipped`` with a ``reason``:
``disabled`` (the schedule was disabled when the change arrived), ``duplicate``
(that fire or that blob version was already taken in, e.g. a redelivered event
or a second host), ``debounced`` (a later change in the same burst superseded
it), ``failed`` (the run could not be created, e.g. the pipeline is disabled),
``own-output`` (the blob is an output of a run the schedule itself started:
firing on it would loop forever).
``Schedule.get_pipeline_runs`` reads the ``fired`` rows, so runs are found
without scanning the runs table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from azure.data.tables import TableClient

from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.schedule_store import iso

DECISIONS_TABLE = "scheduledecisions"
FIRED, SKIPPED = "fired", "skipped"
DISABLED, DUPLICATE, DEBOUNCED, FAILED = "disabled", "duplicate", "debounced", "failed"
OWN_OUTPUT = "own-output"


@dataclass(frozen=True)
class Decision:
    """One trigger decision. ``trigger`` says what asked: recurrence, catch-up, run-now, blob-trigger, poll."""

    schedule_id: str
    decision: str
    trigger: str
    reason: str = ""
    run_id: str = ""
    fire_time: str = ""
    datastore: str = ""
    blob: str = ""
    etag: str = ""
    message: str = ""
    time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reason": self.reason, "trigger": self.trigger, "run_id": self.run_id,
                "fire_time": self.fire_time, "datastore": self.datastore, "blob": self.blob, "etag": self.etag,
                "message": self.message, "time": self.time}


class DecisionStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(DECISIONS_TABLE)

    def record(self, decision: Decision, at: datetime | None = None, key: str | None = None) -> Decision:
        """Store ``decision``. With ``key`` (e.g. the run id of a fire) the row is keyed by ``at`` and ``key``,
        so a fire finished twice (its first claimant died after deciding) is still recorded once."""
        moment = at or datetime.now(timezone.utc)
        stamp = decision.time or iso(moment)
        inverted = f"{10**13 - int(moment.timestamp() * 1000):013d}"
        entity = {"PartitionKey": decision.schedule_id, "RowKey": f"{inverted}-{key or uuid.uuid4().hex[:12]}",
                  **{k: v for k, v in decision.to_dict().items() if k != "time"}, "time": stamp}
        self.table.upsert_entity(entity)
        return replace(decision, time=stamp)

    def list(self, schedule_id: str, top: int = 50, decision: str | None = None) -> list[Decision]:
        query, params = "PartitionKey eq @pk", {"pk": schedule_id}
        if decision:
            query += " and decision eq @decision"
            params["decision"] = decision
        found: list[Decision] = []
        for row in self.table.query_entities(query, parameters=params, results_per_page=min(top, 1000)):
            found.append(Decision(schedule_id=schedule_id, decision=row.get("decision", ""),
                                  trigger=row.get("trigger", ""), reason=row.get("reason", ""),
                                  run_id=row.get("run_id", ""), fire_time=row.get("fire_time", ""),
                                  datastore=row.get("datastore", ""), blob=row.get("blob", ""),
                                  etag=row.get("etag", ""), message=row.get("message", ""),
                                  time=row.get("time", "")))
            if len(found) >= top:
                break
        return found
