"""amlite dev host: run an Azure Functions (Python v2) app locally without Core Tools.

Generic: it knows Functions triggers and Durable Functions, nothing about
pipelines.  See :class:`~amlite_devhost.server.DevHost`.
"""

from .app_loader import FunctionInfo, LoadedApp, index_app, load_app
from .durable.engine import DurableEngine
from .server import DevHost, main

__all__ = ["DevHost", "DurableEngine", "FunctionInfo", "LoadedApp", "index_app", "load_app", "main"]
