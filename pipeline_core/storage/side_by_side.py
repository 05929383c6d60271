"""Storage requests sent beside the caller's own, each on a pool thread that carries the caller's context.

Why: some requests have no reader that orders them against the caller's next one (a run's experiment
index entry beside its rows; a submit's snapshot and spec uploads; a step's last recorded parts beside
its reuse lookup). In sequence each costs a round trip
of wall time on the critical path; side by side, both cost one. The context goes along so the caller's
request budget (``account.request_budget``) bounds the side request's retries as well.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Requests only (no task here submits more work to this pool, so it cannot deadlock on itself).
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="amlite-side")


def beside(call: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
    """Start ``call(*args, **kwargs)`` on a pool thread in a copy of this context; the caller joins it."""
    context = contextvars.copy_context()
    return _pool.submit(context.run, call, *args, **kwargs)  # type: ignore[arg-type]


def join_after(side: Future[_T], failed: BaseException | None) -> _T | None:
    """Wait for ``side``. When the caller's own request ``failed``, the side request's error (if any) gives
    way to that one, which the caller raises; otherwise the side request's error is raised here."""
    if failed is None:
        return side.result()
    try:
        side.result()
    except Exception:  # noqa: BLE001 - the caller's own failure is the one reported
        pass
    return None


def wait_all(sides: Iterable[Future[object]]) -> None:
    """Wait for every one of ``sides``, then raise the first failure among them (none is left running)."""
    failure: BaseException | None = None
    for side in sides:
        try:
            side.result()
        except BaseException as exc:  # noqa: BLE001 - raised below, once every request is done
            failure = failure or exc
    if failure is not None:
        raise failure
