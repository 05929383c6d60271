"""The pure scheduling of a ParallelRunStep: slices, chunks, lanes, tallies (no storage, no Durable)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pipeline_core.parallel.batches import TRANSACTION_OPS, transaction_groups
from pipeline_core.parallel.fanout import (
    CHUNK_TASKS,
    LOOKAHEAD,
    SLICE_MAX,
    ChunkFanout,
    StepFanout,
    guided_slices,
    lane_plan,
    longest_chunk,
    needs_timer,
    shares,
)
from pipeline_core.parallel.summary import add_slice, chunk_start, merge, new_summary, with_carried


def _covered(ranges: list[tuple[int, int]] | list[list[int]]) -> list[int]:
    return [i for s, e in ranges for i in range(s, e)]


@pytest.mark.parametrize(("batches", "workers"), [(1, 1), (7, 3), (40, 2), (1000, 2), (10_000, 8), (333, 16)])
def test_guided_slices_cover_the_range_once_and_shrink(batches: int, workers: int) -> None:
    slices = guided_slices(0, batches, workers)
    assert _covered(slices) == list(range(batches))
    sizes = [e - s for s, e in slices]
    assert max(sizes) <= SLICE_MAX and sizes[-1] == 1
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))  # big first, small last


def test_guided_slices_for_the_cpu_bench() -> None:
    assert [e - s for s, e in guided_slices(0, 40, 2)] == [10, 8, 6, 4, 3, 3, 2, 1, 1, 1, 1]


@pytest.mark.parametrize("workers", [1, 2, 5, 16])
def test_longest_chunk_is_the_longest_that_fits(workers: int) -> None:
    longest = longest_chunk(workers, CHUNK_TASKS)
    assert len(guided_slices(0, longest, workers)) <= CHUNK_TASKS < len(guided_slices(0, longest + 1, workers))


@pytest.mark.parametrize(("batches", "concurrency", "chunk_tasks"),
                         [(1, 4, 64), (3, 2, 64), (1000, 2, 64), (10_000, 2, 64), (10_000, 40, 64), (5000, 7, 16)])
def test_lanes_share_the_concurrency_and_cover_every_batch(batches: int, concurrency: int, chunk_tasks: int) -> None:
    lanes = lane_plan(batches, concurrency, chunk_tasks)
    assert sum(lane["concurrency"] for lane in lanes) <= concurrency
    assert all(lane["concurrency"] <= max(1, chunk_tasks // 4) or len(lanes) == 1 for lane in lanes)
    ranges = sorted(r for lane in lanes for chunk in lane["chunks"] for r in chunk)
    assert _covered(ranges) == list(range(batches))
    for lane in lanes:
        for chunk in lane["chunks"]:
            (start, end), = chunk
            assert len(guided_slices(start, end, lane["concurrency"])) <= chunk_tasks


def test_shares_add_up() -> None:
    assert shares(7, 3) == [3, 2, 2] and shares(40, 3) == [14, 13, 13]


def test_a_refill_next_to_older_tasks_needs_a_timer() -> None:
    assert not needs_timer(2, 2)  # the first yield: every task is new
    assert needs_timer(1, 2)  # one new next to one older: the extension would wait for the new one
    assert not needs_timer(0, 1)  # nothing new: waiting on what runs adds no action


def _done(job: dict[str, Any], **extra: Any) -> dict[str, Any]:
    n = job["end"] - job["start"]
    return {"start": job["start"], "end": job["end"], "next": job["end"], "status": "done", "completed": n,
            "succeeded_batches": n, "failed_batches": 0, "retried_batches": 0, "items": n, "succeeded_items": n,
            "failed_items": 0, "timed_batches": n, "batch_seconds": 0.001 * n, **extra}


def _drive(prepared: dict[str, Any], seed: int, cut_every: int = 0) -> tuple[list[int], int, dict[str, Any]]:
    """Run the step's scheduling with slices finishing in random order; (batches run, peak slices, summary)."""
    rng = random.Random(seed)
    step = StepFanout(prepared)
    ran: list[int] = []
    peak = 0
    running_chunks = [(lane, ChunkFanout({**job})) for lane, job in step.to_start()]
    while running_chunks:
        in_flight: list[tuple[ChunkFanout, dict[str, Any]]] = []
        for _, chunk in running_chunks:
            in_flight += [(chunk, job) for job in chunk.to_start()]
        while in_flight:
            peak = max(peak, len(in_flight))
            chunk, job = in_flight.pop(rng.randrange(len(in_flight)))
            if cut_every and rng.randrange(cut_every) == 0 and job["end"] - job["start"] > 1:
                half = job["start"] + (job["end"] - job["start"]) // 2
                ran += range(job["start"], half)
                chunk.finished(job, {**_done({**job, "end": half}), "end": job["end"], "next": half, "status": "cut"})
            else:
                ran += range(job["start"], job["end"])
                chunk.finished(job, _done(job))
            in_flight += [(chunk, new) for new in chunk.to_start()]
        for lane, chunk in running_chunks:
            step.finished(lane, chunk.result())
        running_chunks = [(lane, ChunkFanout({**job})) for lane, job in step.to_start()]
    return ran, peak, step.summary


@pytest.mark.parametrize(("batches", "concurrency", "cut_every"), [(1000, 2, 0), (1000, 2, 3), (5000, 40, 4), (9, 4, 2)])
@pytest.mark.parametrize("lookahead", [0, LOOKAHEAD])
def test_every_batch_runs_once_within_the_concurrency(batches: int, concurrency: int, cut_every: int,
                                                      lookahead: int) -> None:
    prepared = {"batches": batches, "concurrency": concurrency, "limits": {}, "chunk_tasks": 16,
                "lookahead": lookahead}
    ran, peak, summary = _drive(prepared, seed=batches + concurrency, cut_every=cut_every)
    assert sorted(ran) == list(range(batches))
    # In flight: at most one slice per worker running, plus ``lookahead`` per worker queued on the host.
    assert peak <= concurrency * (1 + lookahead)
    if lookahead and batches >= 4 * concurrency:
        assert peak == concurrency * (1 + lookahead)  # the queue is kept full while there is work
    assert summary["completed"] == summary["scheduled"] == batches


def test_a_chunk_keeps_its_budget_and_hands_back_the_rest() -> None:
    summary = chunk_start(new_summary({"batches": 100, "limits": {}}))
    chunk = ChunkFanout({"ranges": [[0, 100]], "concurrency": 2, "chunk_tasks": 3, "summary": summary})
    first = chunk.to_start()
    assert [(j["start"], j["end"]) for j in first] == [(0, 25), (25, 44)]
    chunk.finished(first[0], {**_done({**first[0], "end": 10}), "end": 25, "next": 10, "status": "cut"})
    again = chunk.to_start()
    assert [(j["start"], j["end"]) for j in again] == [(10, 25)]  # the cut slice's rest goes first
    assert chunk.to_start() == []  # the budget of 3 activities is spent
    for job in (first[1], again[0]):
        chunk.finished(job, _done(job))
    result = chunk.result()
    assert result["remaining"] == [[44, 100]] and result["completed"] == 44


def test_slices_get_no_smaller_than_the_minimum_once_timed() -> None:
    summary = chunk_start(new_summary({"batches": 1000, "limits": {}}))
    chunk = ChunkFanout({"ranges": [[0, 1000]], "concurrency": 2, "chunk_tasks": 64, "summary": summary})
    first, second = chunk.to_start()
    chunk.finished(first, _done(first, batch_seconds=0.002 * 100))  # 2 ms per mini-batch: 100 per 0.2 s
    sizes = []
    while True:
        jobs = chunk.to_start()
        if not jobs:
            break
        sizes += [j["end"] - j["start"] for j in jobs]
        for job in jobs:
            chunk.finished(job, _done(job, batch_seconds=0.002 * (job["end"] - job["start"])))
    assert min(sizes[:-1]) >= 100 and sum(sizes) == 800


def test_a_tripped_limit_stops_scheduling_and_carries_over_chunks() -> None:
    prepared = {"batches": 100, "concurrency": 2, "limits": {"allowed_failed_count": 1}, "chunk_tasks": 64}
    step = StepFanout(prepared)
    (lane, job), = step.to_start()
    chunk = ChunkFanout(job)
    a, b = chunk.to_start()
    assert a["carried"] == {"failed_batches": 0, "failed_items": 0}
    chunk.finished(a, {**_done(a), "succeeded_batches": 0, "failed_batches": 2, "failed_items": 3})
    assert "allowed_failed_count exceeded: 2 failed" in str(chunk.summary["aborted"])
    assert chunk.to_start() == []
    chunk.finished(b, _done(b))
    step.finished(lane, chunk.result())
    assert step.to_start() == [] and step.summary["failed_batches"] == 2 and step.summary["aborted"]


def test_chunk_tallies_merge_and_carry() -> None:
    step = new_summary({"batches": 10, "limits": {}})
    step = merge(step, add_slice(chunk_start(step), _done({"start": 0, "end": 4}, failed_items=1)))
    chunk = chunk_start(step)
    assert chunk["completed"] == 0 and with_carried(chunk)["completed"] == 4
    assert with_carried(chunk)["failed_items"] == 1 and with_carried(chunk)["batch_seconds"] == pytest.approx(0.004)
    assert add_slice(chunk, {"status": "canceled"})["canceled"]


def test_status_rows_are_grouped_to_fit_a_transaction() -> None:
    rows = [{"PartitionKey": "p", "RowKey": f"{i:08d}", "traceback": "x" * (200_000 if i % 7 == 0 else 10)}
            for i in range(250)]
    groups = transaction_groups(rows)
    assert [r for g in groups for r in g] == rows
    assert all(len(g) <= TRANSACTION_OPS for g in groups) and len(groups) > 3
