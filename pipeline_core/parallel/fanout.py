"""How a ParallelRunStep's mini-batches are cut into slices, chunks and lanes. Pure: runs inside orchestrators.

*Slice* -- consecutive mini-batches run by one ``prs_run_slice`` activity on one
worker process. Every mini-batch is still its own ``run()`` call with its own
tries and its own status row, but the per-activity costs (a Durable dispatch,
a replay, Table and Blob round trips, a log append) are paid once per slice.
Sizes are *guided* (as in OpenMP's guided schedule)::

    size = clamp(ceil(remaining / (GUIDE * workers)), 1, slice_max)

so the first slices are big (few activities) and the last ones shrink to a
single mini-batch (no worker waits long for another's tail): 40 mini-batches
on 2 workers are slices of 10, 8, 6, 4, 3, 3, 2, 1, 1, 1, 1. Slices are cut
when a worker frees up, and once the step has timed some mini-batches none is
shorter than about ``MIN_SLICE_SECONDS`` (0.2 s) of work: 1,000 trivial
mini-batches make about a dozen slices, not a tail of one-mini-batch
activities that would be all overhead. ``slice_max`` (<= 100) keeps a slice's
status rows inside one Table transaction. A slice also
stops after ``AMLITE_PRS_SLICE_SECONDS`` (a long slice must not outlive the
Functions timeout) and says where it stopped; the rest of its range is
scheduled again, first in line.

*Lookahead* -- a chunk keeps ``LOOKAHEAD`` slices per worker queued behind
the running ones: the queued slice's activity starts, downloads its first
inputs and waits on the host's pool (which holds at most
``process_count_per_node`` workers) for a worker. Without it every slice
boundary idles the worker for a round trip: the slice's last flush, the
orchestrator's replay, the next activity's dispatch and its first download
(about 45 ms each on the dev host, far more on Azure Storage queues).

*Chunk* -- a sub-orchestration (``parallel_batches``) that keeps up to its
lane's share of the workers busy with slices (plus the lookahead), refilling
a slot as soon as any slice ends, and schedules at most ``chunk_tasks`` activities, so no
history grows with the input: 10,000 mini-batches are a few hundred slices
spread over several chunks, never one history of 10,000 tasks. A chunk that
used its task budget (time-cut slices add tasks) hands the unscheduled ranges
back, and they run as the lane's next chunk.

Refilling needs care under Durable's out-of-process replay: the extension
invokes the actions an orchestrator yields in order, awaiting each before
invoking the next (``OutOfProcOrchestrationShim``, schema V2), and the Python
SDK's ``task_any`` only carries the tasks that are *new* at that yield. So a
refill yielded as ``task_any(running)`` is, to the extension, "wait for the
new slice"; the next refill is not even started until that slice ends, and a
sliding window quietly degrades to one slice at a time after the first
out-of-order completion (the previous per-mini-batch fan-out paid exactly
that). The orchestrators therefore add a durable timer due *now* to every
refill that joins older running slices (``needs_timer``): the extension's
wait for that yield ends when the timer fires, a moment later, and every
refill is started at once. The timer costs two history events per refill.

*Lane* -- a sequence of chunks run one after another with a fixed share of the
step's concurrency ``node_count * process_count_per_node``. One lane holds up
to ``chunk_tasks // 4`` workers (a chunk needs a few slices per worker to
balance its tail), so a step with more workers runs several lanes at once;
their shares add up to the concurrency exactly and each lane gets a range of
mini-batches proportional to its share. Chunk lengths are equal within a lane
and as long as ``chunk_tasks`` slices allow (found by bisection on the slice
count), so a lane crosses as few chunk boundaries as possible.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from pipeline_core.parallel.summary import (
    add_slice,
    chunk_start,
    merge,
    new_summary,
    scheduled,
    should_abort,
    with_carried,
)

SLICE_MAX = 100  # mini-batches per slice: one Table transaction holds at most 100 rows
CHUNK_TASKS = 64  # slice activities per chunk sub-orchestration
GUIDE = 2  # a slice takes 1/(GUIDE * workers) of what is left
MIN_SLICE_SECONDS = 0.2  # once mini-batches were timed, no slice holds less work than this
LOOKAHEAD = 1  # slices queued per worker, waiting on the host for it (see the module docstring)
# Fixed in the plan at prepare time, like slice_max: a plan without it (written before lookahead existed)
# means none, so an orchestration started then replays the same decisions.

Range = tuple[int, int]


def guided_slices(start: int, end: int, workers: int, slice_max: int = SLICE_MAX) -> list[Range]:
    """[start, end) cut into guided slices for ``workers`` workers (see the module docstring)."""
    workers, slice_max = max(1, workers), max(1, min(SLICE_MAX, slice_max))
    found: list[Range] = []
    pos = start
    while pos < end:
        size = max(1, min(slice_max, math.ceil((end - pos) / (GUIDE * workers))))
        found.append((pos, pos + size))
        pos += size
    return found


def longest_chunk(workers: int, chunk_tasks: int, slice_max: int = SLICE_MAX) -> int:
    """The most mini-batches one chunk can take so that its guided slices number at most ``chunk_tasks``."""
    low, high = 1, max(1, chunk_tasks) * max(1, slice_max)
    while low < high:  # the slice count grows with the length: bisect for the last length that fits
        mid = (low + high + 1) // 2
        if len(guided_slices(0, mid, workers, slice_max)) <= chunk_tasks:
            low = mid
        else:
            high = mid - 1
    return low


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers (larger first) that add up to ``total``."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def lane_plan(batches: int, concurrency: int, chunk_tasks: int = CHUNK_TASKS,
              slice_max: int = SLICE_MAX) -> list[dict[str, Any]]:
    """``[{"concurrency": c, "chunks": [[[start, end]], ...]}]``: each lane's share and its chunks' ranges."""
    concurrency = max(1, concurrency)
    width = max(1, chunk_tasks // 4)
    lanes_n = max(1, min(math.ceil(concurrency / width), batches or 1))
    lanes: list[dict[str, Any]] = []
    start = 0
    done_share = 0
    for share in shares(concurrency, lanes_n):
        done_share += share
        end = batches * done_share // concurrency
        chunks: list[list[list[int]]] = []
        if end > start:
            count = math.ceil((end - start) / longest_chunk(share, chunk_tasks, slice_max))
            length = math.ceil((end - start) / count)
            chunks = [[[first, min(first + length, end)]] for first in range(start, end, length)]
            lanes.append({"concurrency": share, "chunks": chunks})
        start = end
    return lanes


def needs_timer(started: int, running: int) -> bool:
    """Whether a yield that just started ``started`` tasks, ``running`` in flight in all, needs a timer due now.

    Yes when older tasks are still running next to the new ones (see the module docstring).
    """
    return 0 < started < running


def _stopping(summary: dict[str, Any]) -> bool:
    return bool(summary.get("aborted") or summary.get("canceled"))


class StepFanout:
    """The step orchestrator's state: which chunk each lane runs next, and the step's running tally.

    Driven as: ``to_start()`` -> start those chunks -> wait for any -> ``finished(lane, result)`` ->
    repeat until ``to_start()`` is empty and nothing runs -> ``summary`` goes to ``prs_finish``.
    """

    def __init__(self, prepared: dict[str, Any]):
        self.summary = new_summary(prepared)
        self.chunk_tasks = int(prepared.get("chunk_tasks") or CHUNK_TASKS)
        self.slice_max = int(prepared.get("slice_max") or SLICE_MAX)
        self.lookahead = int(prepared.get("lookahead") or 0)
        plan = lane_plan(int(prepared["batches"]), int(prepared["concurrency"]), self.chunk_tasks, self.slice_max)
        self.lanes = [(int(lane["concurrency"]), deque(lane["chunks"])) for lane in plan]
        self.busy: set[int] = set()

    def to_start(self) -> list[tuple[int, dict[str, Any]]]:
        """(lane, chunk input) for every idle lane with work left, unless the step is stopping."""
        if _stopping(self.summary):
            return []
        found = []
        for lane, (concurrency, chunks) in enumerate(self.lanes):
            if lane not in self.busy and chunks:
                self.busy.add(lane)
                found.append((lane, {"ranges": chunks.popleft(), "concurrency": concurrency,
                                     "chunk_tasks": self.chunk_tasks, "slice_max": self.slice_max,
                                     "lookahead": self.lookahead,
                                     "summary": chunk_start(self.summary)}))
        return found

    def finished(self, lane: int, result: dict[str, Any]) -> None:
        """Fold a chunk's tally in; ranges it could not schedule run next in the same lane."""
        self.busy.discard(lane)
        self.summary = merge(self.summary, result)
        self.summary["aborted"] = self.summary["aborted"] or should_abort(self.summary)
        remaining = result.get("remaining") or []
        if remaining and not _stopping(self.summary):
            self.lanes[lane][1].appendleft(remaining)


def failed_slice(start: int, end: int, error: str) -> dict[str, Any]:
    """What a slice activity that raised counts as: every mini-batch of it failed (the ledger has the truth)."""
    return {"start": start, "end": end, "next": end, "status": "failed", "completed": end - start,
            "succeeded_batches": 0, "failed_batches": end - start, "retried_batches": 0, "items": end - start,
            "succeeded_items": 0, "failed_items": end - start, "error": error}


class ChunkFanout:
    """A chunk sub-orchestration's state: its ranges cut into slices as workers free up, ``chunk_tasks`` in all.

    Driven as: ``to_start()`` -> start those slices -> wait for any -> ``finished(job, result)`` ->
    repeat until ``to_start()`` is empty and nothing runs -> ``result()``.

    Slices are cut when scheduled, guided by what is left, and no shorter than about
    ``MIN_SLICE_SECONDS`` of work once the step has timed some mini-batches (the ``seconds``
    slices report): with cheap mini-batches a one-mini-batch slice would be all overhead.
    """

    def __init__(self, job: dict[str, Any]):
        self.ranges: deque[list[int]] = deque([int(s), int(e)] for s, e in job["ranges"] if int(e) > int(s))
        self.concurrency = max(1, int(job["concurrency"]))
        self.lookahead = max(0, int(job.get("lookahead") or 0))
        self.slots = self.concurrency * (1 + self.lookahead)  # slices in flight: running plus queued
        self.budget = int(job.get("chunk_tasks") or CHUNK_TASKS)
        self.slice_max = max(1, min(SLICE_MAX, int(job.get("slice_max") or SLICE_MAX)))
        self.summary = dict(job["summary"])
        self.in_flight = 0

    def _left(self) -> int:
        return sum(e - s for s, e in self.ranges)

    def _min_size(self) -> int:
        whole = with_carried(self.summary)
        timed, seconds = int(whole.get("timed_batches") or 0), float(whole.get("batch_seconds") or 0.0)
        if timed == 0 or seconds <= 0:
            return 1
        return max(1, math.ceil(MIN_SLICE_SECONDS / (seconds / timed)))

    def _cut(self) -> list[int]:
        size = max(math.ceil(self._left() / (GUIDE * self.concurrency)), self._min_size())
        start, end = self.ranges[0]
        stop = min(end, start + min(size, self.slice_max))
        if stop == end:
            self.ranges.popleft()
        else:
            self.ranges[0] = [stop, end]
        return [start, stop]

    def to_start(self) -> list[dict[str, Any]]:
        """Slice inputs to schedule now: ``{"start", "end", "carried"}`` (step-wide failures so far)."""
        found: list[dict[str, Any]] = []
        while (self.ranges and self.in_flight < self.slots and self.budget > 0
               and not _stopping(self.summary)):
            start, end = self._cut()
            whole = with_carried(self.summary)
            found.append({"start": start, "end": end,
                          "carried": {"failed_batches": whole["failed_batches"],
                                      "failed_items": whole["failed_items"]}})
            self.summary = scheduled(self.summary, end - start)
            self.in_flight += 1
            self.budget -= 1
        return found

    def finished(self, job: dict[str, Any], result: dict[str, Any]) -> None:
        self.in_flight -= 1
        self.summary = add_slice(self.summary, result)
        nxt, end = int(result.get("next", job["end"])), int(job["end"])
        if result.get("status") == "cut" and nxt < end:  # out of time: the rest is scheduled again, first
            self.ranges.appendleft([nxt, end])
            self.summary = scheduled(self.summary, -(end - nxt))
        self.summary["aborted"] = self.summary["aborted"] or should_abort(with_carried(self.summary))

    def result(self) -> dict[str, Any]:
        """The chunk's own tally plus, when it ran out of task budget, the ranges it never scheduled."""
        remaining = [] if _stopping(self.summary) else [list(r) for r in self.ranges]
        return {**self.summary, "remaining": remaining}
