"""The per-host worker pool's limit: a queued slice waits for a worker instead of starting another process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipeline_core.parallel.worker import TryFailed, Worker, WorkerPool, WorkerSetup


def _pool(tmp_path: Path, limit: int) -> WorkerPool:
    setup = WorkerSetup(src=tmp_path, script="score.py", argv=[], env={}, log_dir=tmp_path / "logs", init_timeout=5)
    return WorkerPool(setup=setup, work=tmp_path, limit=limit)


def _acquire_in_thread(pool: WorkerPool) -> tuple[threading.Thread, list[Worker | Exception]]:
    got: list[Worker | Exception] = []

    def take() -> None:
        try:
            got.append(pool.acquire())
        except TryFailed as exc:
            got.append(exc)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread, got


def test_a_slice_past_the_limit_waits_for_a_released_worker(tmp_path: Path) -> None:
    pool = _pool(tmp_path, limit=2)
    first, second = pool.acquire(), pool.acquire()
    thread, got = _acquire_in_thread(pool)
    thread.join(0.3)
    assert thread.is_alive() and not got  # a third process would oversubscribe the host's share
    pool.release(second)
    thread.join(5)
    assert got == [second] and len(pool.workers) == 2 and pool.busy == 2
    pool.release(first)
    pool.release(second)
    pool.close()


def test_canceling_wakes_a_waiting_slice_with_a_failed_try(tmp_path: Path) -> None:
    pool = _pool(tmp_path, limit=1)
    pool.acquire()
    thread, got = _acquire_in_thread(pool)
    thread.join(0.2)
    assert thread.is_alive()
    pool.cancel()
    thread.join(5)
    assert len(got) == 1 and isinstance(got[0], TryFailed) and "stopped" in got[0].message
    with pytest.raises(TryFailed):
        pool.acquire()
    pool.close()


def test_no_limit_starts_a_worker_per_concurrent_slice(tmp_path: Path) -> None:
    pool = _pool(tmp_path, limit=0)
    taken = [pool.acquire() for _ in range(3)]
    assert len({id(w) for w in taken}) == 3
    pool.close()


def test_a_closed_pool_leaves_no_scratch_behind_a_download_still_in_flight(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The RAM scratch (``/dev/shm``) must be gone once the pool is closed, even when a prefetch was still
    downloading: that download re-creates its folder (``fetch.fetch_whole``) and its file stayed in RAM."""
    import os

    monkeypatch.setenv("AMLITE_PRS_SCRATCH", str(tmp_path / "shm"))
    (tmp_path / "shm").mkdir()
    pool = _pool(tmp_path / "work", limit=1)
    scratch = pool.scratch_for(10)
    assert scratch is not None
    arrived = threading.Event()

    def download() -> None:  # as fetch_whole does when its folder is missing
        arrived.wait(5)
        target = scratch / "docs" / "f0.txt"
        os.makedirs(target.parent, exist_ok=True)
        target.write_bytes(b"input")

    in_flight = pool.fetcher.submit(download)
    threading.Timer(0.3, arrived.set).start()  # the answer comes in after the close has begun
    pool.close()
    in_flight.result(timeout=5)
    assert not scratch.exists()
