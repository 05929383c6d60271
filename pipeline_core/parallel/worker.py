"""Worker processes for a ParallelRunStep, and the per-(run, step) pool that reuses them across slices.

Why long-lived processes: ``init()`` usually loads a model; AML runs it once
per worker process, then calls ``run()`` for mini-batch after mini-batch. A
pool here holds those processes for one (run, step) in this host process; a
slice takes one worker for all its mini-batches and gives it back, so the
entry script stays initialised across slices. A stuck ``run()`` kills its
worker (the next try gets a fresh one, which runs ``init()`` again).
``prs_prepare`` starts the workers ahead (``prewarm``) so ``init()`` overlaps
the scheduling of the first slices. Pools close when the step finishes (and
are never rebuilt for it on this host), or after sitting idle (a host that
ran a few slices of a distributed step never hears the finish). The pool also
owns the I/O threads that prefetch inputs and, for small mini-batches, a
RAM-backed scratch folder for them (see ``scratch_for``).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from pipeline_core.engine.host_folders import host_folder
from pipeline_core.errors import PoolClosed as PoolClosed
from pipeline_core.errors import TryFailed as TryFailed
from pipeline_core.execution.process import ServedProcess, start_supervised, stop_supervised
from pipeline_core.execution.step_settings import step_settings
from pipeline_core.parallel.settings import WORKER_FD, WORKER_SLOT, parallel_settings

log = logging.getLogger("amlite.parallel")

WORKER_MAIN = str(Path(__file__).with_name("_worker.py"))
POLL_SECONDS = 0.2
PREFETCH_THREADS = 4  # concurrent input downloads per (run, step) on a host
SCRATCH_BATCH_BYTES = 16 * 1024 * 1024  # a mini-batch's inputs up to this size may go to RAM scratch
SCRATCH_RESERVE = 256 * 1024 * 1024  # ... if the scratch keeps this much free besides
SCRATCH_HOST_PREFIX = "amlite-prs-"  # a host's folder in the scratch folder: amlite-prs-{hostname}_{pid}_{start}


@dataclass
class WorkerSetup:
    """Everything a worker process needs; the same for every worker of one (run, step) on this host."""

    src: Path
    script: str
    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    init_timeout: float
    log_container: ContainerClient | None = None
    log_prefix: str = ""
    python: str = sys.executable  # or the venv of the packages the step's environment declares


class Worker:
    """One worker process; started lazily so an ``init()`` failure is a failed try of the batch that met it."""

    def __init__(self, setup: WorkerSetup, slot: int, stopped: Callable[[], bool] = lambda: False):
        self.setup = setup
        self.slot = slot
        self.stopped = stopped  # the pool was canceled or closed: start no process
        self.process: subprocess.Popen[bytes] | ServedProcess | None = None
        self.conn: Connection | None = None
        self.log_path = setup.log_dir / f"worker-{slot}.txt"
        self._shipped = 0
        self._blob_created = False
        self._ship_lock = threading.Lock()
        self._start_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _start(self) -> None:
        if self.stopped():
            raise TryFailed("the step's workers on this host were stopped (run canceled or step finished)")
        parent, child = socket.socketpair()
        self.setup.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.setup.env, WORKER_FD: str(child.fileno()), WORKER_SLOT: str(self.slot),
               "PYTHONUNBUFFERED": "1"}
        try:
            with open(self.log_path, "ab") as out:  # under a supervisor: nothing outlives the worker (process.py)
                self.process = start_supervised([self.setup.python, "-u", WORKER_MAIN], self.setup.src, env,
                                                step_settings().stop_grace_seconds, stdout=out,
                                                stderr=subprocess.STDOUT, pass_fds=[child.fileno()])
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        if self.stopped():  # canceled while starting: the pool's kill may have missed this process
            self.kill()
            raise TryFailed("the step's workers on this host were stopped (run canceled or step finished)")
        self.conn.send({"src": str(self.setup.src), "script": self.setup.script, "argv": self.setup.argv})
        reply = self._receive(self.setup.init_timeout, "init()", None)
        if not reply.get("ok"):
            self.kill()
            raise TryFailed(f"init() failed: {reply.get('error')}", reply.get("traceback", ""))

    def _receive(self, timeout: float, what: str, items: int | None) -> dict[str, Any]:
        assert self.conn is not None and self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                limit = "run_invocation_timeout" if what == "run()" else "the init timeout"
                raise TryFailed(f"{what} did not return within {limit}={timeout:g} s; its worker was stopped "
                                "and a new one (which runs init() again) takes the next try",
                                items=items, timed_out=True)
            try:
                ready = self.conn.poll(min(remaining, POLL_SECONDS))
                message: dict[str, Any] | None = self.conn.recv() if ready else None
            except (EOFError, OSError):
                message = None
                ready = True
            if message is not None:
                return message
            if ready or self.process.poll() is not None:
                code = self.kill()
                raise TryFailed(f"the worker process exited with code {code} during {what} "
                                "(see the worker log under logs/{run}/{step}/user/)", items=items)

    def ensure_started(self) -> None:
        """Start the process (and its ``init()``) unless it runs; a concurrent caller waits for that start."""
        with self._start_lock:
            if not self.alive:
                self._start()

    def run(self, payload: dict[str, Any], rows_path: str | None, timeout: float) -> dict[str, Any]:
        """One ``run()`` call; raises TryFailed for a script error, a timeout or a dead worker.

        The worker's log is not shipped here (one append per mini-batch would cost more than a
        trivial ``run()``): the slice ships it with each flush, and ``stop`` ships the rest.
        """
        self.ensure_started()
        assert self.conn is not None
        self.conn.send({"op": "run", "payload": payload, "rows_path": rows_path})
        items: int | None = None
        while True:
            reply = self._receive(timeout, "run()", items)
            if "loaded" in reply:
                items = reply["loaded"]
                continue
            if reply.get("ok"):
                return reply
            raise TryFailed(str(reply.get("error")), reply.get("traceback", ""), reply.get("items", items))

    def kill(self) -> int | None:
        """Stop the worker and every process it started, now; returns its exit code."""
        if self.process is None:
            return None
        try:
            code = stop_supervised(self.process, 0.0, now=True)
        except subprocess.TimeoutExpired:
            code = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        return code

    def stop(self, grace: float = 5.0) -> None:
        """Ask the worker to leave (its entry script's ``shutdown()`` runs), then make sure it has."""
        if self.alive and self.conn is not None:
            try:
                self.conn.send({"op": "exit"})
                assert self.process is not None
                self.process.wait(timeout=grace)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        self.ship_log()

    def ship_log(self) -> None:
        """Append what the worker printed since last time to its log blob (best effort: never fails a batch)."""
        container = self.setup.log_container
        if container is None or not self.log_path.exists():
            return
        with self._ship_lock:
            try:
                size = self.log_path.stat().st_size
                if size <= self._shipped:
                    return
                with open(self.log_path, "rb") as handle:
                    handle.seek(self._shipped)
                    data = handle.read(size - self._shipped)
                name = f"{self.setup.log_prefix}/worker-{socket.gethostname()}-{os.getpid()}-{self.slot}.txt"
                blob = container.get_blob_client(name)
                if not self._blob_created:
                    blob.create_append_blob()
                    self._blob_created = True
                for start in range(0, len(data), 4 * 1024 * 1024):
                    blob.append_block(data[start:start + 4 * 1024 * 1024])
                self._shipped = size
            except Exception as exc:  # logs are a convenience; the batch result is what matters
                log.warning("could not upload worker log %s: %s", self.log_path, exc)


@dataclass
class WorkerPool:
    """The workers of one (run, step) on this host, plus its local work folder, input prefetch and output uploads.

    ``fetcher`` downloads the inputs of the mini-batches a slice runs next while its worker computes the
    current one (I/O threads: the downloads wait on the network, the workers on the CPU).

    ``limit`` is the host's share of the step's processes (``process_count_per_node``): a slice that
    finds that many workers busy waits for one. The orchestrators keep one slice per worker queued
    this way (``fanout.LOOKAHEAD``), so a worker that finishes a slice starts the next at once instead
    of idling through a round trip to the orchestrator.
    """

    setup: WorkerSetup
    work: Path
    sync_outputs: Callable[[], object] = lambda: None
    idle: list[Worker] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    busy: int = 0
    canceled: bool = False
    last_used: float = field(default_factory=time.monotonic)
    context: dict[str, Any] = field(default_factory=dict)
    fetcher: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=PREFETCH_THREADS, thread_name_prefix="prs-fetch"))
    scratch: Path | None = None
    closers: list[Callable[[], object]] = field(default_factory=list)  # run at close, after the last upload
    limit: int = 0  # most worker processes on this host (0: no limit)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _freed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._freed = threading.Condition(self._lock)

    def scratch_for(self, size: int) -> Path | None:
        """A RAM-backed folder for the input files of a small mini-batch (``size`` bytes), or None: use ``work``.

        Why: creating a file on a journaling disk costs more CPU (in the kernel, here ~0.6 ms) than
        downloading a small blob, and a mini-batch's inputs live only until its ``run()`` returns.
        ``AMLITE_PRS_SCRATCH`` names another folder, or ``off``; the default is ``/dev/shm`` when it is
        writable and has room. Batches over 16 MiB, or a fuller scratch, stay on disk.
        """
        if size > SCRATCH_BATCH_BYTES:
            return None
        with self._lock:
            if self.scratch is None and not self.canceled:
                base = parallel_settings().scratch
                if base.lower() in ("", "off", "0") or not os.path.isdir(base) or not os.access(base, os.W_OK):
                    return None
                # In this host's folder there, which the next host removes if this one is killed.
                self.scratch = Path(tempfile.mkdtemp(prefix="pool-", dir=host_folder(Path(base), SCRATCH_HOST_PREFIX)))
            scratch = self.scratch
        if scratch is None:
            return None
        try:
            stat = os.statvfs(scratch)
        except OSError:
            return None
        return scratch if stat.f_bavail * stat.f_frsize > 4 * size + SCRATCH_RESERVE else None

    def acquire(self) -> Worker:
        """An idle worker, a new one below ``limit``, else the next one released; refused once the pool was
        canceled or closed (no stray processes, no waiter left behind)."""
        with self._freed:
            while True:
                if self.canceled:
                    raise TryFailed("the step's workers on this host were stopped (run canceled or step finished)")
                if self.idle:
                    worker = self.idle.pop()
                    break
                if not self.limit or len(self.workers) < self.limit:
                    worker = Worker(self.setup, len(self.workers), lambda: self.canceled)
                    self.workers.append(worker)
                    break
                self._freed.wait()
            self.busy += 1
            self.last_used = time.monotonic()
            return worker

    def release(self, worker: Worker) -> None:
        with self._freed:
            self.busy -= 1
            self.last_used = time.monotonic()
            if not self.canceled:
                self.idle.append(worker)  # a killed worker restarts on its next use
            self._freed.notify()

    def prewarm(self, count: int) -> None:
        """Start up to ``count`` idle workers now (in the background), so the first slices find ``init()`` done.

        A slice that takes one of them while it starts waits for that start, as it would for its own.
        """
        with self._lock:
            while len(self.workers) < count and not self.canceled:
                worker = Worker(self.setup, len(self.workers), lambda: self.canceled)
                self.workers.append(worker)
                self.idle.append(worker)
            starting = list(self.idle)

        def start(worker: Worker) -> None:
            try:
                worker.ensure_started()
            except TryFailed as exc:  # the slice that takes this worker meets the same failure as a try
                log.info("worker %s did not start ahead of its first mini-batch: %s", worker.slot, exc)
            except Exception:
                log.exception("starting worker %s ahead of time failed", worker.slot)

        for worker in starting:
            threading.Thread(target=start, args=(worker,), name=f"prs-start-{worker.slot}", daemon=True).start()

    def cancel(self) -> None:
        """Stop every worker now (a canceled run): in-flight batches see their worker die and stop trying."""
        with self._freed:
            self.canceled = True
            self._freed.notify_all()  # slices waiting for a worker give up
        for worker in list(self.workers):
            worker.kill()

    def close(self) -> None:
        with self._freed:
            self.canceled = True
            workers = list(self.workers)
            self.idle.clear()
            self._freed.notify_all()
        self.fetcher.shutdown(wait=False, cancel_futures=True)
        threads = [threading.Thread(target=w.stop, daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        try:
            self.sync_outputs()
        except Exception as exc:
            log.warning("final upload of ParallelRunStep outputs from %s failed: %s", self.work, exc)
        for closer in self.closers:
            try:
                closer()
            except Exception as exc:
                log.warning("closing the ParallelRunStep pool in %s: %s", self.work, exc)
        # A download still in flight would re-create its folder after the removal (``fetch_whole`` makes a
        # missing one) and leave its file behind, in RAM for the scratch: the queued ones were canceled above,
        # the running ones (at most PREFETCH_THREADS, each bounded by the HTTP timeouts) end first.
        self.fetcher.shutdown(wait=True)
        shutil.rmtree(self.work, ignore_errors=True)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process is not None]


PoolKey = tuple[str, str, str]  # (storage, run id, step)
_pools: dict[PoolKey, WorkerPool] = {}
_building: dict[PoolKey, threading.Lock] = {}
_closed: set[PoolKey] = set()  # steps finished on this host: no pool is built for them again
_registry_lock = threading.Lock()
_reaper: threading.Thread | None = None




def get_pool(key: PoolKey, build: Callable[[], WorkerPool]) -> WorkerPool:
    """The pool for ``key``, built once per host process (concurrent callers wait for the first build)."""
    with _registry_lock:
        if key in _closed:
            raise PoolClosed(f"step {key[2]!r} of run {key[1]} already finished on this host")
        pool = _pools.get(key)
        if pool is not None:
            pool.last_used = time.monotonic()  # so the idle reaper cannot close it under this caller
            return pool
        lock = _building.setdefault(key, threading.Lock())
    with lock:
        with _registry_lock:
            pool = _pools.get(key)
        if pool is None:
            pool = build()
            with _registry_lock:
                closed = key in _closed
                if not closed:
                    _pools[key] = pool
                _building.pop(key, None)
            if closed:  # finished while we built it
                pool.close()
                raise PoolClosed(f"step {key[2]!r} of run {key[1]} already finished on this host")
            _start_reaper()
        return pool


def find_pool(key: PoolKey) -> WorkerPool | None:
    with _registry_lock:
        return _pools.get(key)


def close_pool(key: PoolKey, finished: bool = True) -> None:
    """Stop this host's workers of a step; ``finished``: and never build a pool for it again here."""
    with _registry_lock:
        pool = _pools.pop(key, None)
        if finished:
            _closed.add(key)
    if pool is not None:
        pool.close()


def cancel_pool(key: PoolKey) -> None:
    pool = find_pool(key)
    if pool is not None:
        pool.cancel()


def _idle_seconds() -> float:
    return parallel_settings().pool_idle_seconds


def _reap_forever() -> None:
    while True:
        time.sleep(min(30.0, max(1.0, _idle_seconds() / 4)))
        now = time.monotonic()
        with _registry_lock:
            stale = [k for k, p in _pools.items() if p.busy == 0 and now - p.last_used > _idle_seconds()]
        for key in stale:
            close_pool(key, finished=False)


def _start_reaper() -> None:
    global _reaper
    with _registry_lock:
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_forever, name="amlite-prs-reaper", daemon=True)
            _reaper.start()


@atexit.register
def _close_all() -> None:
    with _registry_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        for worker in pool.workers:
            worker.kill()
        if pool.scratch is not None:
            shutil.rmtree(pool.scratch, ignore_errors=True)
