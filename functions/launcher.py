"""The Durable run launcher: ``pipeline_core.engine.launch.RunLauncher`` over the Durable client.

The HTTP API and the schedule triggers start runs through the
``DurableOrchestrationClient`` their function receives. ``pipeline_core``'s
``start_or_fail`` is synchronous (it writes run rows) and runs in a worker
thread; this adapter carries each client call back to the handler's event
loop, where the client's HTTP session lives.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import azure.durable_functions as df

from pipeline_core.engine.launch import CANCEL_EVENT, ORCHESTRATOR

#: Seconds a worker thread waits for the Durable client to answer one call.
CLIENT_TIMEOUT = 60.0

#: Threads that wait on the Durable client (``start_or_fail`` blocks on it) get a pool of their own: a burst
#: of submits waiting in the loop's default pool would hold every thread the client's answer may need (the
#: dev host answers its RPC calls with ``asyncio.to_thread``), and nothing would move.
_WAITERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="amlite-launch")

_T = TypeVar("_T")


async def off_loop(call: Callable[[], _T]) -> _T:
    """Run ``call`` (which may wait on a :class:`DurableLauncher`) on the launch pool, in this context."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WAITERS, context.run, call)


def _binding_task_hub(client: Any) -> str | None:
    """The hub of the client binding: azure-functions-durable keeps ``taskHubName`` on the client's bindings
    (``DurableOrchestrationClient.task_hub_name`` is only declared, never set)."""
    hub = getattr(getattr(client, "_orchestration_bindings", None), "task_hub_name", None)
    return hub if isinstance(hub, str) and hub else None


class DurableLauncher:
    """Starts, cancels and looks up ``pipeline_run`` orchestrations (instance id = run id) with ``client``.

    Made in the handler (on its event loop); its methods are called from worker threads.
    """

    def __init__(self, client: df.DurableOrchestrationClient, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.client = client
        self.loop = loop or asyncio.get_running_loop()
        #: Recorded on the runs it starts (``pipeline_core.engine.launch.launcher_task_hub``): the hub the
        #: host named in the client binding (``taskHubName``; the client keeps it on its bindings object).
        self.task_hub: str | None = _binding_task_hub(client)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=CLIENT_TIMEOUT)

    def start(self, run_id: str) -> None:
        self._call(self.client.start_new(ORCHESTRATOR, run_id, run_id))

    def cancel(self, run_id: str) -> bool:
        self._call(self.client.raise_event(run_id, CANCEL_EVENT, {"reason": "canceled over HTTP"}))
        return True

    def exists(self, run_id: str) -> bool:
        status = self._call(self.client.get_status(run_id))
        return status is not None and status.runtime_status is not None

    def status(self, run_id: str) -> tuple[str | None, str]:
        """The instance's runtime status name (None: no such instance) and its output as text (the sweeper
        puts how an instance ended on the run it failed to end)."""
        status = self._call(self.client.get_status(run_id))
        if status is None or status.runtime_status is None:
            return None, ""
        output = status.output
        return status.runtime_status.value, output if isinstance(output, str) else ("" if output is None
                                                                                    else repr(output))
