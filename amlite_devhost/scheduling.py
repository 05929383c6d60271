"""A single-thread delay queue shared by durable timers and timer triggers.

One thread and a heap beat a ``threading.Timer`` per timer: an orchestration
with hundreds of retries or a fan-out racing timers would otherwise start as
many threads.  Callbacks run on the scheduler thread and must be quick (they
hand work to a pool or enqueue an event).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("amlite.devhost")


class TimerHandle:
    """Returned by :meth:`DelayScheduler.call_at`; ``cancel()`` is idempotent."""

    __slots__ = ("deadline", "callback", "cancelled")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class DelayScheduler:
    """Run callbacks at ``time.monotonic()`` deadlines on one daemon thread."""

    def __init__(self, name: str = "amlite-delay") -> None:
        self._name = name
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(deadline, callback)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), handle))
            if self._heap[0][2] is handle:
                self._cond.notify()
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(time.monotonic() + max(0.0, delay), callback)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    deadline, _, handle = self._heap[0]
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
                else:
                    return
            if handle.cancelled:
                continue
            try:
                handle.callback()
            except Exception:  # a bad callback must not kill every other timer
                logger.exception("timer callback failed")
