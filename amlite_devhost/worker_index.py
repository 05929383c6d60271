"""Index an app with the real Python worker's loader, so `amlite dev` refuses what Azure refuses.

The Functions host's Python worker (the PyPI package ``azure-functions-runtime``) does more
than ``app.get_functions()``: for every function it checks each binding's parameter and
annotation, the return binding and the ``context`` parameter, and it refuses the *whole* app
on the first mistake (on Azure every function then answers 404). The dev host used to skip
those checks, so an app could pass every local test and load nothing on Azure. Here the
worker's own ``loader.process_indexed_function`` runs over the functions the dev host will
serve; only the worker's gRPC message classes are replaced, by :data:`PROTOS`, because the
checks read nothing from them but enum values and store what they are given.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import DevHostSettings

WORKER_PACKAGE = "azure-functions-runtime==1.3.0"
INSTALL_HINT = (f"install the Python worker's loader with `pip install --ignore-requires-python {WORKER_PACKAGE}` "
                "(`make setup` does); set AMLITE_WORKER_CHECK=off to load the app without it")


class AppRefusedByWorker(RuntimeError):
    """The real Python worker would refuse this app: on Azure no function of it would load."""


class WorkerLoaderMissing(RuntimeError):
    """The worker's loader is not installed, so the app cannot be checked as Azure would."""


class _Message:
    """A protobuf message stand-in: keeps the fields it was built with."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class _BindingInfo(_Message):
    # The enum values of the worker's BindingInfo.Direction and .DataType, as the real
    # generated class exposes them (``in`` is a keyword, so it is set below).
    out = 1
    inout = 2
    undefined = 0
    string = 1
    binary = 2
    stream = 3


setattr(_BindingInfo, "in", 0)  # noqa: B010 - ``in`` cannot be written as an attribute


class _Protos:
    """The names of the worker's ``protos`` module that indexing touches."""

    BindingInfo = _BindingInfo

    class RpcFunctionMetadata(_Message):
        pass

    class RpcRetryOptions(_Message):
        class RetryStrategy:
            exponential_backoff = 0
            fixed_delay = 1


PROTOS = _Protos()


@dataclass(frozen=True)
class WorkerFunction:
    """What the worker reports to the host for one function: its name and bindings."""

    name: str
    bindings: dict[str, tuple[str, int]]  # binding name -> (type, direction)
    raw_bindings: tuple[str, ...]


_lock = threading.Lock()


def worker_check_enabled(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """``AMLITE_WORKER_CHECK=off`` is the escape hatch for machines without the loader."""
    return DevHostSettings.from_env(environ).worker_check


def index_like_worker(functions: Sequence[Any], app_dir: Path | None) -> list[WorkerFunction]:
    """Run the worker's indexing over ``functions`` (from ``app.get_functions()``).

    Raises :class:`AppRefusedByWorker` with the worker's own message, or
    :class:`WorkerLoaderMissing` when ``azure-functions-runtime`` is not importable.
    """
    try:
        from azure_functions_runtime import loader
        from azure_functions_runtime.bindings import meta
        from azure_functions_runtime.functions import Registry
    except ImportError as exc:
        raise WorkerLoaderMissing(f"cannot check the app as the Azure Functions Python worker does: {exc}; "
                                  f"{INSTALL_HINT}") from exc
    directory = str(app_dir) if app_dir is not None else os.getcwd()
    with _lock:  # the worker keeps its binding registry in module globals
        try:
            meta.load_binding_registry()
            # A worker serves one app, so it looks the deferred-binding registry up once. Here one process
            # may index several apps: an app indexed before any binding extension was imported would leave
            # "no extension" cached and this app's SDK-type bindings (BlobClient) would be refused.
            if getattr(meta, "DEFERRED_BINDING_REGISTRY", None) is None:
                meta._DEFERRED_BINDING_REGISTRY_LOADED = False
            metadata, _logs = loader.process_indexed_function(PROTOS, Registry(), list(functions), directory)
        except Exception as exc:  # the worker's FunctionLoadError and whatever else it raises
            raise AppRefusedByWorker(
                f"the Azure Functions Python worker refuses this app, so on Azure none of its "
                f"{len(functions)} functions would load: {exc}") from exc
    return [WorkerFunction(name=m.name,
                           bindings={n: (b.type, int(b.direction)) for n, b in m.bindings.items()},
                           raw_bindings=tuple(m.raw_bindings))
            for m in metadata]
