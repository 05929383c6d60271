"""Lazy re-exports for package ``__init__`` modules.

Why: ``pipeline_core`` re-exports every public name at top level (the AML import rewrite), and
importing all of them pulls in the Azure Storage SDKs, datasets and the pipeline builder. A step's
``from pipeline_core.core import Run`` paid 0.5-0.9 s for that on a loaded 2-core machine, in every
step that logs a metric. With ``lazy(__name__, {...})`` a package names what it exports and each
name's module is imported on first use (PEP 562); type checkers see the names through an
``if TYPE_CHECKING:`` import block beside it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a name to the module that defines it."""

    def __getattr__(name: str) -> object:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
