"""Call a user function the way the Python worker does.

The worker runs ``async def`` functions on its event loop and plain ones on
a thread pool, so a blocking handler never stalls the server.  Arguments are
bound by parameter name: the trigger value, a ``durableClient`` binding as
the JSON string the extension would inject (the DFApp middleware turns it
into a ``DurableOrchestrationClient``), ``context`` when declared, and an
``Out`` holder for named output bindings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Callable
from typing import Any

from .app_loader import FunctionInfo, InvocationContext


class Out:
    """Holder for ``func.Out[...]`` output bindings (``set``/``get``)."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, value: Any) -> None:
        self._value = value

    def get(self) -> Any:
        return self._value


class UnsupportedBindingError(RuntimeError):
    """A function needs an input binding the dev host cannot provide."""


class FunctionInvoker:
    """Invoke indexed functions on ``loop`` / ``executor``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, executor: concurrent.futures.Executor,
                 client_binding: Callable[[], str] | None = None, function_directory: str = "") -> None:
        self.loop = loop
        self.executor = executor
        self.client_binding = client_binding
        self.function_directory = function_directory

    def build_kwargs(self, info: FunctionInfo, trigger_value: Any) -> tuple[dict[str, Any], dict[str, Out]]:
        kwargs: dict[str, Any] = {}
        outs: dict[str, Out] = {}
        if info.trigger_param:
            kwargs[info.trigger_param] = trigger_value
        for client in info.durable_client_params:
            if self.client_binding is None:
                raise UnsupportedBindingError(f"{info.name}: no durable engine for binding '{client}'")
            kwargs[client] = self.client_binding()
        for binding in info.bindings:
            name = binding.get("name")
            if binding.get("direction") == "OUT" and name and name != "$return" and name not in kwargs:
                outs[name] = Out()
                kwargs[name] = outs[name]
        if "context" not in kwargs and info.accepts("context"):
            kwargs["context"] = InvocationContext(info.name, self.function_directory)
        missing = self._missing(info, kwargs)
        if missing:
            raise UnsupportedBindingError(
                f"Function '{info.name}' needs {', '.join(missing)}, which the amlite dev host does not "
                "provide (supported: http, timer, durable triggers and the durable client)")
        return kwargs, outs

    @staticmethod
    def _missing(info: FunctionInfo, kwargs: dict[str, Any]) -> list[str]:
        try:
            params = inspect.signature(info.func).parameters.values()
        except (TypeError, ValueError):
            return []
        types = {b.get("name"): b.get("type") for b in info.bindings}
        return [f"'{p.name}' ({types.get(p.name, 'no binding')})" for p in params
                if p.name not in kwargs and p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    async def invoke(self, info: FunctionInfo, trigger_value: Any) -> tuple[Any, dict[str, Out]]:
        """Run on the loop; sync functions go to the executor."""
        kwargs, outs = self.build_kwargs(info, trigger_value)
        if info.is_async:
            result = await info.func(**kwargs)
        else:
            result = await self.loop.run_in_executor(self.executor, functools.partial(info.func, **kwargs))
            if inspect.isawaitable(result):
                result = await result
        return result, outs

    def invoke_threadsafe(self, info: FunctionInfo, trigger_value: Any) -> concurrent.futures.Future[Any]:
        """Schedule :meth:`invoke` from any thread (timers)."""
        return asyncio.run_coroutine_threadsafe(self.invoke(info, trigger_value), self.loop)
