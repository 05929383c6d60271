"""Keep ``aiohttp`` out of a process that never makes an async HTTP request.

Why: ``aiohttp`` is installed because azure-functions-durable requires it, and two modules import it
at import time without needing it then: 100-160 ms of a process's start on a 2-core machine (its
connector builds TLS contexts as it loads), about a tenth of the time from a command to its first
step running.

- azure-storage-blob's request signing module imports ``AioHttpTransport`` only to ask
  ``isinstance(transport, AioHttpTransport)`` of each request's transport: every CLI command, driver
  and step script that touches blobs paid for it;
- the Durable Functions client's HTTP module (``azure.durable_functions.models.utils.http_utils``)
  imports ``aiohttp`` for two type annotations and uses it only when the client sends a request,
  which the in-process local engine never does (it starts orchestrations itself).

``install()`` (run by ``import pipeline_core``) puts one finder on ``sys.meta_path`` that acts on those
two modules only, each once, while it loads:

- the signing module sees a stand-in ``AioHttpTransport`` whose ``isinstance`` answers exactly as the
  real class would (nothing is an instance before azure-core's ``_aiohttp`` module is loaded; after,
  the stand-in asks the real class). The transport package is as it was afterwards, so code that builds
  an ``AioHttpTransport`` (``azure.storage.blob.aio``) gets the real one;
- the Durable client's HTTP module gets, for its ``import aiohttp`` alone, a module that loads the real
  ``aiohttp`` on first use (its annotations, evaluated while it loads, name ``typing.Any``), and then
  puts the real module in its place. If that module ever used ``aiohttp`` while loading, it is loaded
  again the ordinary way.

A process that has already loaded ``aiohttp`` (the Functions host imports Durable Functions first) is
left alone.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger("amlite")

_SIGNING_MODULE = "azure.storage.blob._shared.authentication"
_TRANSPORT_PACKAGE = "azure.core.pipeline.transport"
_REAL_TRANSPORT_MODULE = "azure.core.pipeline.transport._aiohttp"
_DURABLE_HTTP_MODULE = "azure.durable_functions.models.utils.http_utils"


class _AioHttpTransportCheck(type):
    """The stand-in's metaclass: ``isinstance``/``issubclass`` as the real class answers, once it exists."""

    def __instancecheck__(cls, obj: object) -> bool:
        real = sys.modules.get(_REAL_TRANSPORT_MODULE)
        return real is not None and isinstance(obj, real.AioHttpTransport)

    def __subclasscheck__(cls, sub: type) -> bool:
        real = sys.modules.get(_REAL_TRANSPORT_MODULE)
        return real is not None and issubclass(sub, real.AioHttpTransport)


class _AioHttpTransportStandIn(metaclass=_AioHttpTransportCheck):
    """What the signing module holds as ``AioHttpTransport`` (it only ever tests instances against it)."""


class _AiohttpOnFirstUse(ModuleType):
    """``aiohttp`` as the Durable client's HTTP module sees it: the real one is imported on first use."""

    def __init__(self, owner: ModuleType) -> None:
        super().__init__("aiohttp")
        self.__dict__["_owner"] = owner
        self.__dict__["_defining"] = True  # the owner is loading: only its annotations read attributes now

    def __getattr__(self, name: str) -> Any:
        if self.__dict__["_defining"]:
            return Any
        real = importlib.import_module("aiohttp")
        self.__dict__["_owner"].aiohttp = real  # later lookups find the module itself
        return getattr(real, name)


def _exec_signing_module(inner: Any, module: ModuleType) -> None:
    transport = importlib.import_module(_TRANSPORT_PACKAGE)
    if "AioHttpTransport" in vars(transport):
        inner.exec_module(module)
        return
    transport.AioHttpTransport = _AioHttpTransportStandIn  # type: ignore[attr-defined]
    try:
        inner.exec_module(module)
    finally:
        del transport.AioHttpTransport  # type: ignore[attr-defined]


def _exec_durable_http_module(inner: Any, module: ModuleType) -> None:
    stand_in = _AiohttpOnFirstUse(module)
    real_import = builtins.__import__

    def imports(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if name == "aiohttp" and level == 0 and not fromlist:
            return stand_in
        return real_import(name, globals, locals, fromlist, level)

    # The module's own builtins, with its ``import aiohttp`` answered by the stand-in: nothing else in the
    # process (another thread importing aiohttp meanwhile, say) sees the stand-in.
    module.__dict__["__builtins__"] = {**vars(builtins), "__import__": imports}
    try:
        inner.exec_module(module)
    except Exception:  # it used aiohttp while loading (a newer version): load it the ordinary way
        log.debug("%s used aiohttp while loading; importing aiohttp now", _DURABLE_HTTP_MODULE, exc_info=True)
        module.__dict__["__builtins__"] = builtins
        inner.exec_module(module)
    finally:
        stand_in.__dict__["_defining"] = False


_EXEC: dict[str, Callable[[Any, ModuleType], None]] = {
    _SIGNING_MODULE: _exec_signing_module,
    _DURABLE_HTTP_MODULE: _exec_durable_http_module,
}


class _Loader:
    """One of the two modules' own loader, run as ``_EXEC`` says (unless aiohttp is loaded by then)."""

    def __init__(self, inner: Any, run: Callable[[Any, ModuleType], None]):
        self._inner = inner
        self._run = run

    def __getattr__(self, name: str) -> Any:  # get_source and the rest, for tracebacks and inspect
        return getattr(self._inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if "aiohttp" in sys.modules:  # already loaded: nothing to save
            self._inner.exec_module(module)
        else:
            self._run(self._inner, module)


class _Finder:
    """Finds nothing itself: wraps the loader of the two modules' specs, each once."""

    def __init__(self) -> None:
        self.waiting = {name for name in _EXEC if name not in sys.modules}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        if not self.waiting:
            try:
                sys.meta_path.remove(self)
            except ValueError:  # removed meanwhile: the finders below answer as they would without it
                pass
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None and finder is not self else None
            if spec is not None:
                break
        if spec is None or spec.loader is None or "aiohttp" in sys.modules:
            return spec
        spec.loader = _Loader(spec.loader, _EXEC[fullname])  # type: ignore[assignment]  # a Loader by duck typing
        return spec


def install() -> None:
    """Defer ``aiohttp`` for this process (a no-op once aiohttp is loaded or the finder is in place)."""
    if "aiohttp" in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    finder = _Finder()
    if finder.waiting:
        sys.meta_path.insert(0, finder)
