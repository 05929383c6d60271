"""Keep ``aiohttp`` out of a process that never makes an async request.

Why: azure-storage-blob's request signing module imports ``AioHttpTransport`` at import time, only to
ask ``isinstance(transport, AioHttpTransport)`` of each request's transport. When ``aiohttp`` is
installed (azure-functions-durable requires it) that one import loads ``aiohttp`` and its
dependencies: 130-160 ms of a CLI command's or a pipeline driver's start on a 2-core machine, ~15 % of
the time from a command to its first step running, for a library the driver never uses.

``install()`` puts a finder on ``sys.meta_path`` that acts once, when that signing module is first
imported: for the length of its import, ``azure.core.pipeline.transport.AioHttpTransport`` is a
stand-in class whose ``isinstance`` answers exactly as the real class would. No object can be an
``AioHttpTransport`` before azure-core's ``_aiohttp`` module is loaded, and once it is loaded the
stand-in asks the real class. After that import the transport module is as it was, so code that builds
an ``AioHttpTransport`` (``azure.storage.blob.aio``) gets the real one. A process that has already
loaded ``aiohttp`` (the Functions host, with Durable Functions) is left alone.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_SIGNING_MODULE = "azure.storage.blob._shared.authentication"
_TRANSPORT_PACKAGE = "azure.core.pipeline.transport"
_REAL_MODULE = "azure.core.pipeline.transport._aiohttp"


class _AioHttpTransportCheck(type):
    """The stand-in's metaclass: ``isinstance``/``issubclass`` as the real class answers, once it exists."""

    def __instancecheck__(cls, obj: object) -> bool:
        real = sys.modules.get(_REAL_MODULE)
        return real is not None and isinstance(obj, real.AioHttpTransport)

    def __subclasscheck__(cls, sub: type) -> bool:
        real = sys.modules.get(_REAL_MODULE)
        return real is not None and issubclass(sub, real.AioHttpTransport)


class _AioHttpTransportStandIn(metaclass=_AioHttpTransportCheck):
    """What the signing module holds as ``AioHttpTransport`` (it only ever tests instances against it)."""


class _Loader:
    """The signing module's own loader, run with the stand-in in place."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:  # get_source and the rest, for tracebacks and inspect
        return getattr(self._inner, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        transport = importlib.import_module(_TRANSPORT_PACKAGE)
        if "AioHttpTransport" in vars(transport) or "aiohttp" in sys.modules:
            self._inner.exec_module(module)  # already loaded: nothing to save
            return
        transport.AioHttpTransport = _AioHttpTransportStandIn  # type: ignore[attr-defined]
        try:
            self._inner.exec_module(module)
        finally:
            del transport.AioHttpTransport  # type: ignore[attr-defined]


class _Finder:
    """Finds nothing itself: wraps the loader of the signing module's spec, once."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _SIGNING_MODULE:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:  # removed meanwhile: the finders below answer as they would without it
            pass
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is None or spec.loader is None or "aiohttp" in sys.modules:
            return spec
        spec.loader = _Loader(spec.loader)  # type: ignore[assignment]  # a Loader by duck typing, as importlib asks
        return spec


def install() -> None:
    """Defer ``aiohttp`` for this process (a no-op once the signing module is loaded or the finder is in place)."""
    if _SIGNING_MODULE in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
