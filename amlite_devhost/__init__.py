"""amlite dev host: run an Azure Functions (Python v2) app locally without Core Tools.

Generic: it knows Functions triggers and Durable Functions, nothing about
pipelines.  See :class:`~amlite_devhost.server.DevHost`.

The names below are imported on first use (PEP 562): the local engine of a
driver loads the app and the Durable engine, never the HTTP server (aiohttp's
web stack), and every driver's cold start pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app_loader import FunctionInfo, LoadedApp, index_app, load_app
    from .durable.engine import DurableEngine
    from .server import DevHost, main

_EXPORTS = {"FunctionInfo": ".app_loader", "LoadedApp": ".app_loader", "index_app": ".app_loader",
            "load_app": ".app_loader", "DurableEngine": ".durable.engine", "DevHost": ".server", "main": ".server"}

__all__ = ["DevHost", "DurableEngine", "FunctionInfo", "LoadedApp", "index_app", "load_app", "main"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
