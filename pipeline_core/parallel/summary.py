"""The running tally of a ParallelRunStep and AML's three failure limits. Pure: safe inside an orchestrator.

A *summary* is a small dict the orchestrators fold results into:
``new_summary(prepared)`` -> ``scheduled(s, n)`` as mini-batches are scheduled
-> ``add_slice(s, result)`` as slice activities return (``add_result`` for
one mini-batch) -> ``should_abort(s)`` to stop scheduling early -> hand it to
``prs_finish``. Chunks start from ``chunk_start`` (zero counts, the step's
counts ``carried``) and are folded back with ``merge``. Each function returns
a new dict and reads no clock, so replays see the same values. The summary
only steers scheduling: ``prs_finish`` decides from the ledger (the
``minibatches`` table).

Limits (AML v1): ``error_threshold`` counts failed *items* (files or rows;
-1 ignores them); ``allowed_failed_count`` counts failed *mini-batches*, where
a batch that succeeded on a retry is not a failure (-1 or None ignores them);
``allowed_failed_percent`` is checked only once every batch was scheduled.
A limit trips when the count goes *above* it.
"""

from __future__ import annotations

from typing import Any


def new_summary(prepared: dict[str, Any]) -> dict[str, Any]:
    return {"batches": int(prepared.get("batches") or 0), "scheduled": 0, "completed": 0,
            "succeeded_batches": 0, "failed_batches": 0, "retried_batches": 0, "items": 0,
            "succeeded_items": 0, "failed_items": 0, "timed_batches": 0, "batch_seconds": 0.0,
            "limits": dict(prepared.get("limits") or {}), "aborted": None, "canceled": False}


def scheduled(summary: dict[str, Any], count: int = 1) -> dict[str, Any]:
    return {**summary, "scheduled": summary["scheduled"] + count}


def add_result(summary: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Fold one ``prs_run_batch`` result in; a canceled batch marks the summary canceled."""
    found = dict(summary)
    status = result.get("status")
    if status == "canceled":
        found["canceled"] = True
        return found
    found["completed"] += 1
    found["items"] += int(result.get("items") or 0)
    found["succeeded_items"] += int(result.get("succeeded_items") or 0)
    found["failed_items"] += int(result.get("failed_items") or 0)
    if status == "succeeded":
        found["succeeded_batches"] += 1
        if int(result.get("tries") or 1) > 1:
            found["retried_batches"] += 1
    else:
        found["failed_batches"] += 1
    return found


def add_slice(summary: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Fold one ``prs_run_slice`` result (counts over its mini-batches) in; ``canceled`` sticks."""
    found = dict(summary)
    for name in ("completed", "succeeded_batches", "failed_batches", "retried_batches", "items",
                 "succeeded_items", "failed_items", "timed_batches"):
        found[name] = int(found.get(name) or 0) + int(result.get(name) or 0)
    found["batch_seconds"] = float(found.get("batch_seconds") or 0.0) + float(result.get("batch_seconds") or 0.0)
    if result.get("status") == "canceled":
        found["canceled"] = True
    return found


def _active(limit: Any) -> bool:
    return limit is not None and limit != -1


def error_threshold_reason(failed_items: int, failed_batches: int, batches: int, limit: Any) -> str | None:
    if _active(limit) and failed_items > int(limit):
        return (f"error_threshold exceeded: {failed_items} failed items (files or rows) > error_threshold={limit} "
                f"({failed_batches} of {batches} mini-batches failed)")
    return None


def failed_count_reason(failed_batches: int, batches: int, limit: Any) -> str | None:
    if _active(limit) and failed_batches > int(limit):
        return (f"allowed_failed_count exceeded: {failed_batches} failed mini-batches > "
                f"allowed_failed_count={limit} (of {batches} mini-batches)")
    return None


def failed_percent_reason(failed_batches: int, batches: int, limit: Any) -> str | None:
    if limit is None or batches == 0:
        return None
    percent = 100.0 * failed_batches / batches
    if percent > float(limit):
        return (f"allowed_failed_percent exceeded: {failed_batches} of {batches} mini-batches failed "
                f"({percent:.1f}%) > allowed_failed_percent={float(limit):g}%")
    return None


def should_abort(summary: dict[str, Any]) -> str | None:
    """Why to stop scheduling now (a limit that can only grow is already exceeded), or None."""
    limits = summary.get("limits") or {}
    return (error_threshold_reason(summary["failed_items"], summary["failed_batches"], summary["batches"],
                                   limits.get("error_threshold"))
            or failed_count_reason(summary["failed_batches"], summary["batches"], limits.get("allowed_failed_count")))


def every_batch_failed_reason(failed_batches: int, batches: int, all_scheduled: bool) -> str | None:
    """A step none of whose mini-batches succeeded produced nothing: never Finished, whatever the limits allow."""
    if all_scheduled and batches > 0 and failed_batches == batches:
        return f"every mini-batch failed ({batches} of {batches}): the step produced no result"
    return None


def limit_reason(counts: dict[str, int], limits: dict[str, Any], all_scheduled: bool) -> str | None:
    """The final verdict ``prs_finish`` applies to the recorded counts."""
    batches, failed_batches = counts["batches"], counts["failed_batches"]
    return (error_threshold_reason(counts["failed_items"], failed_batches, batches, limits.get("error_threshold"))
            or every_batch_failed_reason(failed_batches, batches, all_scheduled)
            or failed_count_reason(failed_batches, batches, limits.get("allowed_failed_count"))
            or (failed_percent_reason(failed_batches, batches, limits.get("allowed_failed_percent"))
                if all_scheduled else None))


COUNTS = ("scheduled", "completed", "succeeded_batches", "failed_batches", "retried_batches", "items",
          "succeeded_items", "failed_items", "timed_batches")


def merge(summary: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Fold a chunk's tally (from a sub-orchestration that started from zero counts) into the step's."""
    found = dict(summary)
    for name in COUNTS:
        found[name] = int(found.get(name) or 0) + int(part.get(name) or 0)
    found["batch_seconds"] = float(found.get("batch_seconds") or 0.0) + float(part.get("batch_seconds") or 0.0)
    found["canceled"] = bool(found.get("canceled") or part.get("canceled"))
    found["aborted"] = found.get("aborted") or part.get("aborted")
    return found


def chunk_start(summary: dict[str, Any]) -> dict[str, Any]:
    """A chunk's starting tally: zero counts, but the limits and what is already failed, so it can abort early."""
    start = {**summary, **{name: 0 for name in COUNTS}, "batch_seconds": 0.0}
    start["carried"] = {**{name: int(summary.get(name) or 0) for name in COUNTS},
                        "batch_seconds": float(summary.get("batch_seconds") or 0.0)}
    return start


def with_carried(summary: dict[str, Any]) -> dict[str, Any]:
    """The step-wide view inside a chunk: its own counts plus what earlier chunks carried in."""
    carried = summary.get("carried") or {}
    found = {**summary, **{name: int(summary.get(name) or 0) + int(carried.get(name) or 0) for name in COUNTS}}
    found["batch_seconds"] = float(summary.get("batch_seconds") or 0.0) + float(carried.get("batch_seconds") or 0.0)
    return found
