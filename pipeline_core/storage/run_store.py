"""Run and step state in Table storage: one partition per run, ETag-guarded transitions.

Why one partition: a run and all its steps read in a single partition query
and update atomically in batches (at most 100 operations, Table storage's
limit), so ``get_details`` never sees a half-written submit. Why ETags: the
orchestrator, a cancel request and a redelivered activity may all touch one
row; an update that lost the race re-reads and decides again rather than
overwriting.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from pipeline_core.errors import ConcurrencyError, NotFoundError
from pipeline_core.errors import InvalidTransition as InvalidTransition
from pipeline_core.status import ALLOWED as ALLOWED  # re-exported: callers import the names from here
from pipeline_core.status import TERMINAL as TERMINAL
from pipeline_core.status import RunStatus
from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.run_signals import SIGNALS
from pipeline_core.storage.side_by_side import beside, join_after, wait_all

RUNS_TABLE = "runs"
EXPERIMENTS_TABLE = "experiments"
RUN_ROW = "run"
STEP_PREFIX = "step:"
#: A child run of a step (a HyperDrive trial) is a ``step:{child name}`` row with this field naming its
#: step: so the run context, cancel checks and the metric store address it like a step, while
#: ``get_state`` keeps it out of the steps and lists it on its step's row under ``CHILD_RUNS_FIELD``.
PARENT_FIELD = "parent_step"
CHILD_RUNS_FIELD = "child_runs"
#: Row keys one filter may name besides the run row (Table storage allows 15 comparisons, one is the partition).
MAX_FILTER_KEYS = 13

# Module-level names kept as aliases of the one enum (pipeline_core.status), so callers need not change.
NOT_STARTED, QUEUED, RUNNING = RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.RUNNING
FINISHED, FAILED, CANCELED = RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELED
CANCEL_REQUESTED = RunStatus.CANCEL_REQUESTED
JSON_FIELDS = ("parameters", "tags", "outputs", "error", "reuse", "recorded", "progress", "registered_datasets",
               "remote",  # remote: a POLL step's remote work (its handle, the service's run)
               "search")  # search: a CHILD_RUNS step's child-run counts; an AutoMLStep's summary



def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def step_key(name: str) -> str:
    return STEP_PREFIX + name


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in JSON_FIELDS:
            out[key] = json.dumps(value, sort_keys=True)
        elif value is None:
            out[key] = ""
        else:
            out[key] = value
    return out


def decode(entity: Any) -> dict[str, Any]:
    row = dict(entity)
    for key in JSON_FIELDS:
        if isinstance(row.get(key), str) and row[key]:
            try:
                row[key] = json.loads(row[key])
            except json.JSONDecodeError:
                pass
        elif row.get(key) == "":
            row[key] = None
    row["etag"] = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
    return row


#: Rows this process created that its run starts may still take (``RunStore.take_created``).
CREATED_KEPT = 256

#: How far back a listing across experiments looks, widening until it has what it wants (hours; then all).
LISTING_WINDOWS_HOURS = (1, 24, 24 * 24)


def _inverted(ms: int) -> str:
    return f"{10**13 - ms:013d}"


def index_key(created_ms: int, run_id: str) -> str:
    """An experiment index entry's RowKey: newest first within an experiment (a time counted down)."""
    return f"{_inverted(created_ms)}_{run_id}"


def newest_index_entries(index: TableClient, top: int, now_ms: int | None = None) -> list[dict[str, Any]]:
    """The ``top`` newest entries of the experiment index, across every experiment, newest first.

    Why windows: the index sorts by experiment, then newest first, so across experiments the newest entries
    can only be found by reading every entry, and it holds every run ever made (5,000 entries took
    0.35-0.47 s to read and parse, on every ``amlite runs`` and runs page). A filter on the key (created after
    a cutoff) is applied by the service, so a query for the last hour returns that hour's entries only; the
    window widens (a day, 24 days, then everything) until it holds ``top`` entries.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    found: list[dict[str, Any]] = []
    for hours in (*LISTING_WINDOWS_HOURS, None):
        if hours is None:
            found = list(index.list_entities(results_per_page=1000))
        else:
            found = list(index.query_entities("RowKey lt @cutoff", results_per_page=1000,
                                              parameters={"cutoff": _inverted(now_ms - hours * 3_600_000)}))
        if len(found) >= top:
            break
    found.sort(key=lambda e: e["RowKey"])
    return found[:top]


@dataclass
class RunState:
    run: dict[str, Any]
    steps: dict[str, dict[str, Any]]


class RunStore:
    """CRUD and guarded transitions over the ``runs`` and ``experiments`` tables."""

    def __init__(self, account: StorageAccount):
        self.account = account
        self._created: dict[str, dict[str, Any]] = {}  # see take_created
        self._created_lock = threading.Lock()

    @property
    def runs(self) -> TableClient:
        return self.account.table(RUNS_TABLE)

    @property
    def experiments(self) -> TableClient:
        return self.account.table(EXPERIMENTS_TABLE)

    # -- create ------------------------------------------------------------------
    def create_run(self, run_id: str, experiment: str, run_fields: dict[str, Any],
                   steps: Iterable[tuple[str, dict[str, Any]]], status: str = NOT_STARTED) -> dict[str, Any]:
        """Write the run row (``status``: NotStarted, or Queued when the caller starts it at once) and every
        step row (NotStarted) atomically, and index it under its experiment.

        The index entry is written beside the rows, not after them: ``list_runs`` skips an entry whose run
        is not there (yet, or ever, if the rows' write failed), so nothing orders the two writes.
        Returns the run row as :meth:`get_run` would read it back (with its ``etag``), so a caller
        answering with the new run, or moving it on with :meth:`transition_from`, needs no second read.
        """
        now = utcnow()
        run_row = {"PartitionKey": run_id, "RowKey": RUN_ROW, "experiment": experiment, "status": status,
                   "created_time": now, "start_time": "", "end_time": "", **_encode(run_fields)}
        ops: list[tuple[str, dict[str, Any]]] = [("create", run_row)]
        for index, (name, fields) in enumerate(steps):
            ops.append(("create", {"PartitionKey": run_id, "RowKey": step_key(name), "name": name,
                                   "index": index, "status": NOT_STARTED, "start_time": "", "end_time": "",
                                   **_encode(fields)}))
        entry = {"PartitionKey": experiment, "RowKey": index_key(int(time.time() * 1000), run_id), "run_id": run_id,
                 "created_time": now}
        # The index's table client is looked up on the side thread too: in a new process that creates the table.
        indexed = beside(lambda: self.experiments.upsert_entity(entry))
        try:
            etag = self._write_rows(ops)
        except BaseException as exc:
            join_after(indexed, exc)
            raise
        join_after(indexed, None)
        SIGNALS.changed(run_id)
        created = {**decode(run_row), "etag": etag}
        with self._created_lock:
            self._created[run_id] = created
            while len(self._created) > CREATED_KEPT:
                self._created.pop(next(iter(self._created)))
        return dict(created)

    def take_created(self, run_id: str) -> dict[str, Any] | None:
        """The run row as this store created it (with its etag), once; None if this process did not create it.

        Why: the run's start (the orchestration's first activity, in the process that created the run when it
        runs locally or on the same Functions instance) moves the row on with a conditional write from it,
        instead of reading it first. A row changed since fails that write, and the start then reads it.
        """
        with self._created_lock:
            return self._created.pop(run_id, None)

    def _write_rows(self, ops: list[tuple[str, dict[str, Any]]]) -> str | None:
        """The run's rows in batches of 100 (Table storage's limit), run row first; the run row's etag.

        Readers only ever see a run whose row exists, and step rows are created NotStarted, so a run
        larger than one batch is never seen half-written."""
        etag = None
        for start in range(0, len(ops), 100):
            written = self.runs.submit_transaction(ops[start:start + 100])
            if start == 0 and written:
                etag = written[0].get("etag")
        return etag

    # -- read --------------------------------------------------------------------
    def get_state(self, run_id: str, steps: Iterable[str] | None = None) -> RunState:
        """The run row and its step rows; with ``steps``, only those steps' rows (those that exist).

        A step of a wide run needs its own row and its producers', not the run's hundred others:
        reading them all made every step of a fan-out read the whole run (quadratic in its width).
        A filter holds at most 15 comparisons in Table storage, so a longer list reads the partition.
        """
        keys = None if steps is None else sorted({step_key(s) for s in steps})
        if keys is not None and len(keys) < MAX_FILTER_KEYS:
            wanted = [RUN_ROW, *keys]
            query = "PartitionKey eq @pk and ( " + " or ".join(f"RowKey eq @k{i}" for i in range(len(wanted))) + " )"
            found = self.runs.query_entities(query, parameters={"pk": run_id, **{f"k{i}": k for i, k in enumerate(wanted)}})
        else:
            found = self.runs.query_entities("PartitionKey eq @pk", parameters={"pk": run_id})
        rows = [decode(e) for e in found]
        if keys is not None:
            chosen = {RUN_ROW, *keys}
            rows = [r for r in rows if r["RowKey"] in chosen]
        run = next((r for r in rows if r["RowKey"] == RUN_ROW), None)
        if run is None:
            raise NotFoundError(f"run {run_id!r} was not found; check the id (amlite runs lists recent runs)")
        steps = {r["name"]: r for r in rows if r["RowKey"].startswith(STEP_PREFIX) and not r.get(PARENT_FIELD)}
        for child in sorted((r for r in rows if r.get(PARENT_FIELD)), key=lambda r: int(r.get("index") or 0)):
            parent = steps.get(child[PARENT_FIELD])
            if parent is not None:  # a step's child runs (HyperDrive trials) ride on its row, not as steps
                parent.setdefault(CHILD_RUNS_FIELD, []).append(child)
        return RunState(run, dict(sorted(steps.items(), key=lambda kv: kv[1].get("index", 0))))

    def get_run(self, run_id: str) -> dict[str, Any]:
        try:
            return decode(self.runs.get_entity(run_id, RUN_ROW))
        except ResourceNotFoundError:
            raise NotFoundError(f"run {run_id!r} was not found; check the id (amlite runs lists recent runs)") from None

    def get_step(self, run_id: str, name: str) -> dict[str, Any]:
        try:
            return decode(self.runs.get_entity(run_id, step_key(name)))
        except ResourceNotFoundError:
            raise NotFoundError(f"step {name!r} was not found in run {run_id!r}") from None

    def create_children(self, run_id: str, parent: str, children: list[tuple[str, dict[str, Any]]]) -> None:
        """Add child runs of step ``parent`` (NotStarted), in transactions of at most 100.

        The caller reads the existing children first (``get_children``) and names only new ones.
        """
        ops: list[tuple[str, dict[str, Any]]] = [
            ("create", {"PartitionKey": run_id, "RowKey": step_key(name), "name": name, PARENT_FIELD: parent,
                        "status": NOT_STARTED, "start_time": "", "end_time": "", **_encode(fields)})
            for name, fields in children]
        for start in range(0, len(ops), 100):
            self.runs.submit_transaction(ops[start:start + 100])  # type: ignore[arg-type]
        SIGNALS.changed(run_id)

    def put_children(self, run_id: str, parent: str, children: list[tuple[str, dict[str, Any]]]) -> None:
        """Write child runs of step ``parent`` as they are (upsert), in transactions of at most 100.

        For children recorded after they ran (an AutoMLStep's trials): no transitions, and writing one
        again (a poll then the search's end, a retried step) replaces it.
        """
        ops: list[tuple[str, dict[str, Any]]] = [
            ("upsert", {"PartitionKey": run_id, "RowKey": step_key(name), "name": name, PARENT_FIELD: parent,
                        **_encode(fields)})
            for name, fields in children]
        for start in range(0, len(ops), 100):
            self.runs.submit_transaction(ops[start:start + 100])  # type: ignore[arg-type]
        SIGNALS.changed(run_id)

    def delete_children(self, run_id: str, parent: str) -> int:
        """Remove the child runs of step ``parent`` (a new attempt of a search starts without the last one's)."""
        rows = self.get_children(run_id, parent)
        ops: list[tuple[str, dict[str, Any]]] = [("delete", {"PartitionKey": run_id, "RowKey": r["RowKey"]})
                                                 for r in rows]
        for start in range(0, len(ops), 100):
            self.runs.submit_transaction(ops[start:start + 100])  # type: ignore[arg-type]
        if rows:
            SIGNALS.changed(run_id)
        return len(rows)

    def get_children(self, run_id: str, parent: str) -> list[dict[str, Any]]:
        """The child runs of step ``parent`` (HyperDrive trials), in the order they were created."""
        rows = [decode(e) for e in self.runs.query_entities(
            "PartitionKey eq @pk and parent_step eq @parent", parameters={"pk": run_id, "parent": parent})]
        return sorted(rows, key=lambda r: int(r.get("index") or 0))

    def experiment_names(self) -> list[str]:
        """Every experiment with a run, sorted; reads only the index's keys."""
        return sorted({e["PartitionKey"] for e in self.experiments.list_entities(select=["PartitionKey"])})

    def list_runs(self, experiment: str | None = None, top: int = 50) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        if experiment:
            for entry in self.experiments.query_entities("PartitionKey eq @pk", parameters={"pk": experiment},
                                                         results_per_page=top):
                entries.append(entry)
                if len(entries) >= top:
                    break
            entries.sort(key=lambda e: e["RowKey"])
        else:
            entries = newest_index_entries(self.experiments, top)
        # Each run is its own partition: point reads side by side, not one after another (20 runs were
        # 20 round trips in sequence, most of an `amlite runs`); the order is the index's.
        reads: list[Future[Any]] = [beside(self._run_if_any, entry["run_id"]) for entry in entries[:top]]
        wait_all(reads)
        return [row for row in (read.result() for read in reads) if row is not None]

    def _run_if_any(self, run_id: str) -> dict[str, Any] | None:
        """The run row, or None for an index entry whose run is gone (deleted after it was listed)."""
        try:
            return self.get_run(run_id)
        except NotFoundError:
            return None

    # -- update ------------------------------------------------------------------
    def update(self, run_id: str, row_key: str, fields: dict[str, Any], etag: str | None = None) -> dict[str, Any]:
        """Merge ``fields`` into a row; with ``etag`` only if nobody changed it since (else ConcurrencyError)."""
        entity = {"PartitionKey": run_id, "RowKey": row_key, **_encode(fields)}
        try:
            if etag:
                meta = self.runs.update_entity(entity, mode=UpdateMode.MERGE, etag=etag,
                                               match_condition=MatchConditions.IfNotModified)
            else:
                meta = self.runs.update_entity(entity, mode=UpdateMode.MERGE)
        except ResourceModifiedError as exc:
            raise ConcurrencyError(f"{row_key} of run {run_id} changed concurrently") from exc
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConcurrencyError(f"{row_key} of run {run_id} changed concurrently") from exc
            raise
        SIGNALS.changed(run_id, ended=row_key == RUN_ROW and fields.get("status") in TERMINAL)
        return {"etag": meta.get("etag")}

    def transition_from(self, row: dict[str, Any], to_status: str, fields: dict[str, Any] | None = None,
                        guard: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """``transition`` starting from a row already read (one round trip when nobody raced us).

        ``guard`` is asked only about a row that changed since ``row`` was read.
        """
        current = row.get("status") or NOT_STARTED
        if row.get("etag") and to_status in ALLOWED.get(current, frozenset()):
            changes = {"status": to_status, **(fields or {})}
            try:
                meta = self.update(row["PartitionKey"], row["RowKey"], changes, etag=row["etag"])
                return {**row, **changes, "etag": meta["etag"]}
            except ConcurrencyError:
                pass
        return self.transition(row["PartitionKey"], row["RowKey"], to_status, fields, guard=guard)

    def transition(self, run_id: str, row_key: str, to_status: str, fields: dict[str, Any] | None = None,
                   guard: Callable[[dict[str, Any]], bool] | None = None, attempts: int = 8) -> dict[str, Any]:
        """Move a row to ``to_status`` if the state machine (and ``guard``) allows, retrying lost races.

        Raises InvalidTransition when the current state forbids it (e.g. the row is
        already terminal), which is how a redelivered or late update learns it is late.
        """
        for _ in range(attempts):
            try:
                row = decode(self.runs.get_entity(run_id, row_key))
            except ResourceNotFoundError:
                raise NotFoundError(f"{row_key} of run {run_id!r} was not found") from None
            current = row.get("status") or NOT_STARTED
            if current == to_status and not fields:
                return row
            if to_status != current and to_status not in ALLOWED.get(current, frozenset()):
                raise InvalidTransition(row, to_status)
            if guard is not None and not guard(row):
                raise InvalidTransition(row, to_status)
            changes = {"status": to_status, **(fields or {})}
            try:
                meta = self.update(run_id, row_key, changes, etag=row["etag"])
            except ConcurrencyError:
                continue
            row.update(changes)
            row["etag"] = meta["etag"]
            return row
        raise ConcurrencyError(f"{row_key} of run {run_id} kept changing; gave up after {attempts} attempts")

    def batch_update(self, run_id: str, updates: list[tuple[str, dict[str, Any]]]) -> None:
        """Unconditional merges of several rows of one run, in transactions of at most 100."""
        ops: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("update", {"PartitionKey": run_id, "RowKey": key, **_encode(fields)}, {"mode": UpdateMode.MERGE})
            for key, fields in updates
        ]
        for start in range(0, len(ops), 100):
            self.runs.submit_transaction(ops[start:start + 100])  # type: ignore[arg-type]
        SIGNALS.changed(run_id)

    def delete_run(self, run_id: str) -> None:
        for row in self.runs.query_entities("PartitionKey eq @pk", parameters={"pk": run_id}, select=["RowKey"]):
            self.runs.delete_entity(run_id, row["RowKey"])
        SIGNALS.changed(run_id)
