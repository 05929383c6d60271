"""Running one slice: consecutive mini-batches on one worker, inputs prefetched, results recorded in flushes.

A slice is what one ``prs_run_slice`` activity does (see ``fanout`` for how
slices are cut). Per mini-batch the worker gets its own ``run()`` call with
``run_invocation_timeout`` and up to ``run_max_try`` tries, and the ledger
gets its own row; what is shared is everything around them:

- one ledger query at the start: mini-batches already recorded (an earlier
  delivery of this slice) are not run again, their recorded results count;
- one worker for the slice (its entry script stays initialised: the worker
  lives in the per-host pool across slices); a slice queued behind a running
  one (``fanout.LOOKAHEAD``) downloads its first inputs while it waits for a
  worker, and a slice gives its worker back before its final flush, so the
  worker goes from one slice to the next without a gap;
- inputs of the next ``PREFETCH`` mini-batches download on the pool's I/O
  threads while the worker computes the current one;
- no cancel query per mini-batch: the pool's watcher polls the run row and
  kills the workers, and the loop stops at its ``canceled`` flag;
- a *flush* at the end, and every ``AMLITE_PRS_FLUSH_SECONDS`` (5) in between,
  records the finished mini-batches: their append_row rows staged as blocks of
  the output file, their rows in one create-only Table transaction (see
  ``batches``), then the worker log and ``output_dir`` files; its log lines
  and progress go to the host's ``report.Reporter``, which writes them every
  two seconds;
- after ``AMLITE_PRS_SLICE_SECONDS`` (300) the slice stops starting
  mini-batches and returns ``status: "cut"`` with ``next``: the orchestrator
  schedules the rest, so no activity outlives the Functions timeout.

A slice also stops early once its own failures plus the step's failures at
scheduling time (``carried``) exceed ``error_threshold`` or
``allowed_failed_count``, the limits that can only grow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import traceback
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobClient, ContainerClient

from pipeline_core.engine.services import Services
from pipeline_core.parallel import plan as plans
from pipeline_core.parallel.batches import FAILED, SUCCEEDED, BatchStore, clip, result_of, transaction_groups
from pipeline_core.parallel.config import DEFAULT_APPEND_ROW_FILE
from pipeline_core.parallel.fetch import BlobGetter, fetch_batch
from pipeline_core.parallel.outputs import stage_rows
from pipeline_core.parallel.report import Reporter, batch_line
from pipeline_core.parallel.settings import parallel_settings
from pipeline_core.parallel.summary import should_abort
from pipeline_core.parallel.worker import TryFailed, Worker, WorkerPool
from pipeline_core.storage.run_store import utcnow

log = logging.getLogger("amlite.parallel")

PREFETCH = 3  # mini-batches whose inputs download ahead of the one running


def rows_target(services: Services, plan: dict[str, Any]) -> BlobClient | None:
    """The append_row output file whose blocks the slices stage, or None for summary_only."""
    output = plan.get("output")
    if not output or plan["config"]["output_action"] != "append_row":
        return None
    name = plan["config"].get("append_row_file_name") or DEFAULT_APPEND_ROW_FILE
    return services.container_for(output["datastore"]).get_blob_client(f"{output['path']}/{name}")


def _rows_in(payload: dict[str, Any]) -> int | None:
    """How many rows a fetched tabular mini-batch holds, read here when no worker got to read it.

    AML counts a failed tabular mini-batch's rows against ``error_threshold``; counting it as one
    item let a step whose ``init()`` failed end Finished with an empty output.
    """
    if payload.get("kind") == "files":
        return len(payload.get("paths") or [])
    try:
        from pipeline_core.data.readers import read_parts

        return len(read_parts(payload["parts"]))
    except Exception:  # unreadable: the try's own error says why; count the batch as one item
        return None


@dataclass
class _Finished:
    """A mini-batch with its result, waiting for the next flush."""

    index: int
    fields: dict[str, Any]
    inputs: list[str]
    rows: tuple[int, int] | None  # (offset, length) of its append_row rows in the slice's spool file
    ended: str = field(default_factory=utcnow)


def tally(results: list[dict[str, Any]]) -> dict[str, int]:
    """Slice counts over per-mini-batch results (``result_of`` shape)."""
    failed = [r for r in results if r["status"] == FAILED]
    return {"completed": len(results), "failed_batches": len(failed),
            "succeeded_batches": len(results) - len(failed),
            "retried_batches": sum(1 for r in results if r["status"] == SUCCEEDED and int(r["tries"] or 1) > 1),
            "items": sum(int(r["items"]) for r in results),
            "succeeded_items": sum(int(r["succeeded_items"]) for r in results),
            "failed_items": sum(int(r["failed_items"]) for r in results)}


def slice_result(start: int, end: int, nxt: int, status: str, results: dict[int, dict[str, Any]],
                 timed: int = 0, seconds: float = 0.0) -> dict[str, Any]:
    """The activity result: counts over the recorded results of ``[start, nxt)``, the first failure, and
    ``timed_batches``/``batch_seconds``: how many mini-batches this call ran and their wall time (for sizing)."""
    ran = [results[i] for i in range(start, nxt) if i in results]
    found = {"start": start, "end": end, "next": nxt, "status": status, **tally(ran),
             "timed_batches": timed, "batch_seconds": round(seconds, 4)}
    first = next((r for r in ran if r["status"] == FAILED), None)
    if first:
        found["error"] = f"mini-batch {first['index']}: {first['error']}"
    return found


class SliceRun:
    """Mini-batches ``[start, end)`` of one prepared step on this host's pool (see the module docstring)."""

    def __init__(self, services: Services, run_id: str, step: str, plan: dict[str, Any], pool: WorkerPool,
                 start: int, end: int, carried: dict[str, int] | None = None):
        self.services, self.run_id, self.step, self.plan, self.pool = services, run_id, step, plan, pool
        self.start, self.end = start, end
        self.carried = carried or {}
        self.config = plan["config"]
        self.store = BatchStore(services.account)
        self.token = os.urandom(6).hex()
        self.host = f"{socket.gethostname()}:{os.getpid()}"
        self.target = rows_target(services, plan)
        self.results: dict[int, dict[str, Any]] = {}  # index -> result_of(...) of what stands in the ledger
        self.pending: list[_Finished] = []
        self.flushes = 0
        self.worker: Worker | None = None
        self.spool = pool.work / "rows" / f"{self.token}.txt"  # the workers append each mini-batch's rows here
        self.spooled = 0  # bytes of the spool that belong to finished mini-batches
        self.failed_batches = self.failed_items = 0  # this slice's, for the early stop
        self.timed, self.seconds = 0, 0.0  # mini-batches run by this call, and their wall time
        self.containers: dict[str, ContainerClient] = pool.context.setdefault("containers", {})
        self.getters: dict[str, BlobGetter] = pool.context.setdefault("getters", {})
        self.reporter: Reporter = pool.context["reporter"]

    # -- the loop ------------------------------------------------------------------------
    def run(self, recorded: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """Run what ``recorded`` (the slice's rows in the ledger) lacks; the slice's result."""
        self.results = {i: result_of(r) for i, r in recorded.items()}
        for result in self.results.values():
            self._count(result)
        todo = [i for i in range(self.start, self.end) if i not in self.results]
        status, nxt = "done", self.end
        if todo:
            status, nxt = self._run(todo)
        return slice_result(self.start, self.end, nxt, status, self.results, self.timed, self.seconds)

    def _count(self, result: dict[str, Any]) -> None:
        if result["status"] == FAILED:
            self.failed_batches += 1
        self.failed_items += int(result["failed_items"])

    def _run(self, todo: list[int]) -> tuple[str, int]:
        tuning = parallel_settings()
        deadline = time.monotonic() + tuning.slice_seconds
        flush_every = tuning.flush_seconds
        ahead: deque[tuple[int, dict[str, Any], Future[tuple[dict[str, Any], list[Path]]]]] = deque()
        queue = deque(todo)
        status, nxt = "done", self.end
        if self.target is not None:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
        try:
            # The first inputs download while this slice waits for a worker (a queued slice waits for
            # the running one on its worker to end), so its first run() starts the moment it has one.
            self._prefetch(queue, ahead)
            try:
                self.worker = self.pool.acquire()
            except TryFailed:
                return "canceled", self.start
            last_flush = time.monotonic()
            while queue or ahead:
                self._prefetch(queue, ahead)
                if not ahead:
                    status, nxt = "canceled", queue[0]
                    break
                index, batch, fetched = ahead.popleft()
                if self.pool.canceled:
                    self._discard(fetched)
                    status, nxt = "canceled", index
                    break
                if time.monotonic() > deadline and index > todo[0]:
                    self._discard(fetched)
                    status, nxt = "cut", index
                    break
                began = time.monotonic()
                fields, rows = self._tries(batch, fetched)
                if fields["status"] == "canceled":
                    status, nxt = "canceled", index
                    break
                self.timed += 1
                self.seconds += time.monotonic() - began
                self.pending.append(_Finished(index, fields, [f["name"] for f in batch["files"]], rows))
                self.results[index] = result = result_of({"index": index, **fields})
                self._count(result)
                if self._over_limit():
                    status, nxt = "aborted", index + 1
                    break
                if time.monotonic() - last_flush >= flush_every:
                    self.flush()
                    last_flush = time.monotonic()
        finally:
            for _index, _batch, fetched in ahead:
                self._discard(fetched)
            if self.worker is not None:  # the next slice (queued behind this one) starts while this one flushes
                self.pool.release(self.worker)
            try:
                self.flush()
            finally:
                self.spool.unlink(missing_ok=True)
        return status, nxt

    def _prefetch(self, queue: deque[int], ahead: deque[tuple[int, dict[str, Any],
                                                               Future[tuple[dict[str, Any], list[Path]]]]]) -> None:
        """Start downloading the inputs of queued mini-batches until ``PREFETCH`` + 1 are on their way."""
        while queue and len(ahead) <= PREFETCH:
            index = queue[0]
            batch = plans.read_batch(plans_container(self.services), self.run_id, self.step, index)
            try:
                ahead.append((index, batch, self.pool.fetcher.submit(self._fetch, batch)))
            except RuntimeError:  # the pool was closed under this slice (the step ended)
                return
            queue.popleft()

    def _over_limit(self) -> bool:
        whole = {"batches": int(self.plan["batches"]), "limits": self.plan["limits"],
                 "failed_items": self.failed_items + int(self.carried.get("failed_items") or 0),
                 "failed_batches": self.failed_batches + int(self.carried.get("failed_batches") or 0)}
        return should_abort(whole) is not None

    # -- one mini-batch ------------------------------------------------------------------
    def _container(self, datastore: str) -> ContainerClient:
        found = self.containers.get(datastore)
        if found is None:
            found = self.containers[datastore] = self.services.container_for(datastore)
        return found

    def _getter(self, datastore: str) -> BlobGetter:
        found = self.getters.get(datastore)
        if found is None:
            found = self.getters[datastore] = BlobGetter(self._container(datastore))
        return found

    def _fetch(self, batch: dict[str, Any]) -> tuple[dict[str, Any], list[Path]]:
        meta = self.plan["inputs"][batch["input"]]
        root = self.pool.work / "inputs"
        if meta["type"] != "tabular":
            root = self.pool.scratch_for(sum(int(f.get("size") or 0) for f in batch["files"])) or root
        return fetch_batch(self._container, batch, meta, root, self._getter)

    @staticmethod
    def _discard(fetched: Future[tuple[dict[str, Any], list[Path]]]) -> None:
        """Drop a prefetch that will not be used now (its files, once it is done)."""
        def clean(done: Future[tuple[dict[str, Any], list[Path]]]) -> None:
            if not done.cancelled() and done.exception() is None:
                for path in done.result()[1]:
                    path.unlink(missing_ok=True)

        if not fetched.cancel():
            fetched.add_done_callback(clean)

    def _tries(self, batch: dict[str, Any], fetched: Future[tuple[dict[str, Any], list[Path]]]
               ) -> tuple[dict[str, Any], tuple[int, int] | None]:
        """Run one mini-batch with up to ``run_max_try`` tries: the fields to record, and where its rows are."""
        first: TryFailed | None = None
        last: TryFailed | None = None
        items: int | None = batch.get("items")
        payload: dict[str, Any] | None = None
        cleanup: list[Path] = []
        tries = 0
        spool = str(self.spool) if self.target is not None else None
        assert self.worker is not None
        try:
            for attempt in range(1, int(self.config["run_max_try"]) + 1):
                if self.pool.canceled:
                    return {"status": "canceled", "tries": tries}, None
                tries = attempt
                try:
                    if payload is None:
                        payload, cleanup = fetched.result() if attempt == 1 else self._fetch(batch)
                        payload["context"] = {"minibatch_index": int(batch["index"]),
                                              "partition_key_value": dict(batch.get("key") or {}),
                                              # the mini-batch's own files, as AML's mini_batch_context.dataset
                                              "files": [{"datastore": f["datastore"], "path": f["name"]}
                                                        for f in batch.get("files") or []],
                                              "dataset_type": "file" if payload.get("kind") == "files"
                                              else "tabular",
                                              "format": ((payload.get("parts") or [{}])[0].get("format"))}
                    reply = self.worker.run(payload, spool, float(self.config["run_invocation_timeout"]))
                except TryFailed as exc:
                    first, last = first or exc, exc
                    items = exc.items if exc.items is not None else items
                    self._trim_spool()
                    continue
                except Exception as exc:  # fetching the inputs failed: a failed try like any other
                    failure = TryFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
                    first, last = first or failure, failure
                    continue
                items = int(reply["items"])
                succeeded = min(int(reply["count"]), items)
                fields: dict[str, Any] = {"status": SUCCEEDED, "tries": tries, "items": items,
                                          "succeeded_items": succeeded, "failed_items": items - succeeded,
                                          "error": first.message if first else "",
                                          "traceback": clip(first.traceback) if first else "",
                                          "rows": int(reply["count"])}
                return fields, self._spooled_rows()
            if self.pool.canceled:
                return {"status": "canceled", "tries": tries}, None
            if items is None and payload is not None:  # e.g. init() failed before run() read the table
                items = _rows_in(payload)
            failed_items = items if items else 1  # a tabular mini-batch that failed to load still failed
            return {"status": FAILED, "tries": tries, "items": failed_items, "succeeded_items": 0,
                    "failed_items": failed_items, "error": first.message if first else "",
                    "traceback": clip(first.traceback) if first else "",
                    "last_error": clip(last.message) if last and last is not first else ""}, None
        finally:
            for path in cleanup:
                path.unlink(missing_ok=True)

    def _spooled_rows(self) -> tuple[int, int] | None:
        """The bytes the worker just appended to the spool: (offset, length), or None for none."""
        if self.target is None:
            return None
        try:
            size = os.stat(self.spool).st_size
        except FileNotFoundError:
            return None
        found = (self.spooled, size - self.spooled) if size > self.spooled else None
        self.spooled = size
        return found

    def _trim_spool(self) -> None:
        """Drop what a failed try may have appended (a worker killed while writing its rows)."""
        if self.target is not None:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.spool).st_size > self.spooled:
                    os.truncate(self.spool, self.spooled)

    # -- recording -----------------------------------------------------------------------
    def _entity(self, done: _Finished, flush: str | None, parts: int) -> dict[str, Any]:
        fields = {**done.fields, "inputs": clip(json.dumps(done.inputs)), "host": self.host, "token": self.token,
                  "end_time": done.ended}
        if flush and done.rows is not None:
            fields.update(rows_block=flush, rows_parts=parts)
        return self.store.entity(self.run_id, self.step, done.index, fields)

    def flush(self) -> None:
        """Record what finished since the last flush; then ship the worker log and ``output_dir`` files, and
        hand the log lines and progress to the host's reporter."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        recorded: list[_Finished] = []
        for group in _groups(pending, self._entity):
            recorded.extend(self._record(group))
        self._after_flush(recorded)

    def _record(self, group: list[_Finished]) -> list[_Finished]:
        """Record ``group`` in one transaction (its rows staged first); what we recorded, not another delivery."""
        for _ in range(5):
            flush = f"{self.token}{self.flushes:06d}"
            self.flushes += 1
            ranges = [d.rows for d in group if d.rows is not None]
            parts = stage_rows(self.target, flush, self.spool, ranges) if ranges and self.target is not None else 0
            if self.store.record([self._entity(d, flush if parts else None, parts) for d in group]):
                return group
            # Another delivery of this slice recorded some of these first: theirs stand, record the rest.
            first, last = group[0].index, group[-1].index + 1
            existing = self.store.recorded(self.run_id, self.step, first, last)
            for index, row in existing.items():
                self.results[index] = result_of(row)
            group = [d for d in group if d.index not in existing]
            if not group:
                return []
        raise RuntimeError(f"mini-batches {group[0].index}-{group[-1].index} of step {self.step!r} kept "
                           "conflicting with another delivery; results not recorded")

    def _after_flush(self, recorded: list[_Finished]) -> None:
        if self.worker is not None:
            self.worker.ship_log()
        try:
            self.pool.sync_outputs()
        except Exception as exc:
            log.warning("uploading output_dir files of step %s failed: %s", self.step, exc)
        if not recorded:
            return
        counts = tally([result_of({"index": d.index, **d.fields}) for d in recorded])
        lines = [batch_line(d.index, d.fields) for d in recorded
                 if d.fields["status"] == FAILED or int(d.fields["tries"]) > 1]
        first, last = recorded[0].index, recorded[-1].index
        lines.append(f"[amlite] mini-batches {first}-{last}: {counts['succeeded_batches']} succeeded, "
                     f"{counts['failed_batches']} failed; {counts['succeeded_items']} of {counts['items']} items")
        self.reporter.add(lines, {
            "processed": counts["items"], "succeeded": counts["succeeded_items"], "failed": counts["failed_items"],
            "finished_batches": counts["completed"], "failed_batches": counts["failed_batches"]})


def _groups(pending: list[_Finished], entity: Any) -> list[list[_Finished]]:
    """``pending`` cut like ``transaction_groups`` cuts their rows (by count and payload size)."""
    rows = [entity(d, None, 0) for d in pending]
    by_key = {r["RowKey"]: d for r, d in zip(rows, pending)}
    return [[by_key[r["RowKey"]] for r in group] for group in transaction_groups(rows)]


def plans_container(services: Services) -> ContainerClient:
    return services.account.container(plans.PRS_CONTAINER)
